module atrium.dev/gen

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/planetscale/vtprotobuf v0.6.1-0.20250313105119-ba97887b0a25
	google.golang.org/protobuf v1.36.12
)
