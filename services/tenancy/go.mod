module atrium.dev/services/tenancy

go 1.26.0
