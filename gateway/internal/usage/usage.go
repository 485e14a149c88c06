// Package usage records one event per API request on the Redis stream
// RedisPrefix+"atrium:usage", for Insights to roll up. Recording never blocks a request:
// events go through a bounded channel to one background writer that XADDs them in batches
// (MAXLEN ~ cap); an event that finds the channel full, or whose write fails, is dropped and
// counted in the atrium_gateway_usage_dropped counter.
//
// Stream entry fields: time (unix milliseconds), tenant (tenant id, "" when none), procedure
// ("/pkg.Service/Method", or "GET /api/catalog/entities" for REST), code (Connect code,
// "ok" on success), http_status, duration_us, bytes_in, bytes_out, request_id.
package usage

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Event is one request.
type Event struct {
	Time       time.Time
	TenantID   string
	Procedure  string
	Code       string
	HTTPStatus int
	Duration   time.Duration
	BytesIn    int64
	BytesOut   int64
	RequestID  string
}

// Config of a Recorder.
type Config struct {
	Redis  *redis.Client // nil: every event is dropped (and counted)
	Stream string
	// MaxLen caps the stream approximately (default 1,000,000 entries).
	MaxLen int64
	// Buffer is the channel's capacity (default 10,000 events).
	Buffer int
	Meter  metric.Meter
	Log    *slog.Logger
}

// Recorder is safe for concurrent use.
type Recorder struct {
	cfg     Config
	ch      chan Event
	dropped metric.Int64Counter
	lastLog atomic.Int64
}

// New returns a recorder; Run writes what it records.
func New(cfg Config) (*Recorder, error) {
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = 1_000_000
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 10_000
	}
	dropped, err := cfg.Meter.Int64Counter("atrium_gateway_usage_dropped",
		metric.WithDescription("Usage events dropped because the buffer was full or Redis failed."))
	if err != nil {
		return nil, err
	}
	return &Recorder{cfg: cfg, ch: make(chan Event, cfg.Buffer), dropped: dropped}, nil
}

var (
	reasonFull  = metric.WithAttributes(attribute.String("reason", "buffer_full"))
	reasonRedis = metric.WithAttributes(attribute.String("reason", "redis_error"))
)

// Record queues e, or drops it when the buffer is full.
func (r *Recorder) Record(e Event) {
	select {
	case r.ch <- e:
	default:
		r.dropped.Add(context.Background(), 1, reasonFull)
	}
}

const (
	batchSize   = 256
	batchWindow = 100 * time.Millisecond
)

// Run writes queued events until ctx ends, then writes what is still queued (for at most a
// few seconds) and returns.
func (r *Recorder) Run(ctx context.Context) {
	batch := make([]Event, 0, batchSize)
	for {
		select {
		case <-ctx.Done():
			r.drain(batch)
			return
		case e := <-r.ch:
			batch = append(batch[:0], e)
			// Gather for a moment, so a busy gateway writes batches, not single events.
			window := time.NewTimer(batchWindow)
		fill:
			for len(batch) < batchSize {
				select {
				case e := <-r.ch:
					batch = append(batch, e)
				case <-window.C:
					break fill
				case <-ctx.Done():
					break fill
				}
			}
			window.Stop()
			// Not ctx: a batch taken off the channel is written even if ctx ends meanwhile.
			wctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			r.write(wctx, batch)
			cancel()
		}
	}
}

func (r *Recorder) drain(batch []Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		batch = batch[:0]
	fill:
		for len(batch) < batchSize {
			select {
			case e := <-r.ch:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		if len(batch) == 0 || ctx.Err() != nil {
			return
		}
		r.write(ctx, batch)
	}
}

func (r *Recorder) write(ctx context.Context, batch []Event) {
	if r.cfg.Redis == nil {
		r.dropped.Add(ctx, int64(len(batch)), reasonRedis)
		return
	}
	_, err := r.cfg.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range batch {
			p.XAdd(ctx, &redis.XAddArgs{
				Stream: r.cfg.Stream,
				MaxLen: r.cfg.MaxLen,
				Approx: true,
				Values: []string{
					"time", strconv.FormatInt(e.Time.UnixMilli(), 10),
					"tenant", e.TenantID,
					"procedure", e.Procedure,
					"code", e.Code,
					"http_status", strconv.Itoa(e.HTTPStatus),
					"duration_us", strconv.FormatInt(e.Duration.Microseconds(), 10),
					"bytes_in", strconv.FormatInt(e.BytesIn, 10),
					"bytes_out", strconv.FormatInt(e.BytesOut, 10),
					"request_id", e.RequestID,
				},
			})
		}
		return nil
	})
	if err != nil {
		r.dropped.Add(context.Background(), int64(len(batch)), reasonRedis)
		now := time.Now().UnixNano()
		if last := r.lastLog.Load(); now-last >= int64(time.Minute) && r.lastLog.CompareAndSwap(last, now) {
			r.cfg.Log.Warn("usage events dropped: Redis write failed", "events", len(batch), "err", err)
		}
	}
}
