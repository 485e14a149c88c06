module atrium.dev/gateway

go 1.26.0
