// Command tenantctl is the Atrium operator CLI. See `tenantctl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"atrium.dev/tenantctl/internal/command/root"
	"atrium.dev/tenantctl/internal/invocation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.Run(ctx, invocation.Std(), os.Args[1:])
	stop()
	os.Exit(code)
}
