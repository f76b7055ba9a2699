// Package e2e holds the capture writer's end-to-end tests against real databases,
// kept apart from package writer so that fuzzing writer's own parsers does not
// instrument the database drivers:
//
//   - TestFaultPostgresRestart: a steady write load through the Writer into a
//     throwaway Postgres that is stopped (fast, then immediate) and restarted in
//     the middle; afterwards every capture offered is stored exactly once.
//   - BenchmarkWriter: sustained end-to-end throughput into SQLite and Postgres.
//
// The package has no non-test code.
package e2e
