module atrium.dev/gateway

go 1.26.0

require (
	atrium.dev/gen v0.0.0
	atrium.dev/platform v0.0.0
)

replace atrium.dev/gen => ../gen

replace atrium.dev/platform => ../platform
