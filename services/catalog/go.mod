module atrium.dev/services/catalog

go 1.26.0

require (
	atrium.dev/gen v0.0.0
	atrium.dev/platform v0.0.0
	google.golang.org/protobuf v1.36.12
	gopkg.in/yaml.v3 v3.0.1
)

replace atrium.dev/gen => ../../gen

replace atrium.dev/platform => ../../platform
