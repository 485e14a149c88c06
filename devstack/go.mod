module atrium.dev/devstack

go 1.26.0
