package app

import "atrium.dev/services/tenancy/internal/api"

// RedactDSNForTest exposes the shard DSN redaction to the external tests.
var RedactDSNForTest = api.RedactDSN
