// Package appspec reads and validates AppSpec files (appspec.yml, appspec.yaml, appspec.json) for the
// server, ECS and Lambda compute platforms, with the semantics of AWS CodeDeploy.
//
// Parsing runs in two stages. The raw stage turns bytes into a tree of YAML values that keeps every
// line and column and refuses what YAML would let through by surprise (duplicate keys, several
// documents, runaway aliases, non-UTF-8 text). The validation stage walks that tree for one platform
// and builds a Spec, reporting every problem as a Diagnostic that names file:line and says what to
// change.
//
// This package must not know about bundles, hosts, servers or how hooks are run: it only says what
// an AppSpec means. It touches the file system only in Find and Load (FindFS reads whatever fs.FS
// it is given, such as a bundle read without unpacking it).
package appspec
