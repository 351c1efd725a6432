// Package corpus finds the shared test corpus: real AppSpec files and GitHub webhook payloads kept
// in shared/corpus beside the checkout (not in the repository), for tests to read as they are.
//
// It is imported only by tests. It must not know what the files mean.
package corpus
