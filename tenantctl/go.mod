module atrium.dev/tenantctl

go 1.26.0

require (
	atrium.dev/gen v0.0.0
	connectrpc.com/connect v1.21.1
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	golang.org/x/term v0.47.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261019180522-ce908d29299b
	google.golang.org/protobuf v1.36.12
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace atrium.dev/gen => ../gen

replace atrium.dev/platform => ../platform

replace atrium.dev/devstack => ../devstack

replace atrium.dev/services/tenancy => ../services/tenancy

replace atrium.dev/services/catalog => ../services/catalog

replace atrium.dev/gateway => ../gateway
