module atrium.dev/tenantctl

go 1.26.0
