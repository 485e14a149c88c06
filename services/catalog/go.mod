module atrium.dev/services/catalog

go 1.26.0

require (
	atrium.dev/gen v0.0.0
	atrium.dev/platform v0.0.0
	google.golang.org/protobuf v1.36.12
	gopkg.in/yaml.v3 v3.0.1
)

require (
	connectrpc.com/connect v1.21.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace atrium.dev/gen => ../../gen

replace atrium.dev/platform => ../../platform
