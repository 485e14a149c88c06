module atrium.dev/devstack

go 1.26.0

require (
	atrium.dev/gateway v0.0.0
	atrium.dev/gen v0.0.0
	atrium.dev/platform v0.0.0
	atrium.dev/services/catalog v0.0.0
	atrium.dev/services/tenancy v0.0.0
)

replace atrium.dev/gen => ../gen

replace atrium.dev/platform => ../platform

replace atrium.dev/services/tenancy => ../services/tenancy

replace atrium.dev/services/catalog => ../services/catalog

replace atrium.dev/gateway => ../gateway
