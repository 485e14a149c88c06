package store

// TopLeadersAnswered counts top lists answered from the buckets' leaders (tests).
var TopLeadersAnswered = &topLeadersAnswered
