// Package awsfake holds small, stateful stand-ins for the AWS APIs Slipway drives — Lambda
// (REST-JSON), ECS (JSON 1.1) and Elastic Load Balancing v2 (the query protocol, XML answers) —
// and a manual Clock. Tests point the real SDK clients at a stand-in's URL, so the code under
// test is the production code path with another base URL.
//
// Each stand-in speaks its protocol as the pinned SDK reads and writes it (request paths and
// targets, JSON and XML member names, epoch-second timestamps, error bodies and headers), refuses
// unsigned requests and requests signed for another service, keeps the state the calls change
// (alias versions and weights, task sets and their status and scale, listener actions and
// weights) with a history stamped by a clock the test controls, and can be told to fail a given
// call so tests cover the failure paths.
//
// Only tests import this package.
package awsfake
