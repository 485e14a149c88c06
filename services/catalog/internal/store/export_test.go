package store

// ByRefsSQL is the statement a by-refs miss of n refs without a filter runs ($1: the refs).
func ByRefsSQL(n int) string { return byRefsSQL(n, "$1", "") }

// PerRowSQL is the same load with entityColumns' relations subqueries per row, as by-refs of
// several refs ran it before byRefsSQL (and pages still do after their LIMIT).
const PerRowSQL = "SELECT " + entityColumns + " FROM catalog_entities e WHERE e.ref = ANY($1)"
