// Package usage records one event per API request on the Redis stream
// RedisPrefix+"atrium:usage", for Insights to roll up. Recording never blocks a request:
// events go through a bounded channel to one background writer that XADDs them in batches
// (MAXLEN ~ cap). When Redis fails, the writer keeps its batch and retries it with backoff
// while new events wait in the channel; only an event that finds the channel full (or that is
// still unwritten when the process stops) is dropped, counted in atrium_gateway_usage_dropped
// by reason. So a Redis restart loses at most what overflows the buffer, and says how much.
//
// Stream entry fields: id (producer-assigned event id, the consumers' dedup key: a retried
// XADD gets a new stream id but keeps this), source ("request"), time (unix milliseconds),
// tenant (tenant id, "" when none), shard, user (user id, API token id or ""), user_kind
// ("user", "api_token", "operator" or "anonymous"), plugin (the method's plugin, else the
// API's package: "catalog", "tenancy", ...), procedure ("/pkg.Service/Method", or
// "GET /api/catalog/entities" for REST), code (Connect code, "ok" on success), http_status,
// duration_us, bytes_in, bytes_out, request_id.
package usage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// User kinds of an event.
const (
	KindUser      = "user"
	KindAPIToken  = "api_token"
	KindOperator  = "operator"
	KindAnonymous = "anonymous"
)

// Event is one request.
type Event struct {
	// ID is assigned by Record; callers leave it empty.
	ID         string
	Time       time.Time
	TenantID   string
	Shard      string
	User       string
	UserKind   string
	Plugin     string
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
	// Buffer is the channel's capacity (default 10,000 events): how many events a Redis
	// outage can hold before they are dropped.
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
	// Event ids are a random per-process prefix and a counter: unique across gateways without
	// coordination, and cheap enough for every request (no crypto/rand per event).
	idPrefix string
	seq      atomic.Uint64
	// backoff of the writer's retries (tests shorten it).
	backoff time.Duration
}

// New returns a recorder; Run writes what it records.
func New(cfg Config) (*Recorder, error) {
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = 1_000_000
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 10_000
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	dropped, err := cfg.Meter.Int64Counter("atrium_gateway_usage_dropped",
		metric.WithDescription("Usage events dropped: the buffer was full (Redis slow or down), or the process stopped before Redis took them."))
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Recorder{
		cfg: cfg, ch: make(chan Event, cfg.Buffer), dropped: dropped,
		idPrefix: "g" + hex.EncodeToString(b[:]) + "-", backoff: 200 * time.Millisecond,
	}, nil
}

var (
	reasonFull     = metric.WithAttributes(attribute.String("reason", "buffer_full"))
	reasonRedis    = metric.WithAttributes(attribute.String("reason", "redis_error"))
	reasonShutdown = metric.WithAttributes(attribute.String("reason", "shutdown"))
)

// Record assigns e its event id and queues it, or drops it when the buffer is full.
func (r *Recorder) Record(e Event) {
	e.ID = r.idPrefix + strconv.FormatUint(r.seq.Add(1), 36)
	select {
	case r.ch <- e:
	default:
		r.dropped.Add(context.Background(), 1, reasonFull)
	}
}

const (
	batchSize   = 256
	batchWindow = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
)

// Run writes queued events until ctx ends, then writes what is still queued (for at most a
// few seconds) and returns.
func (r *Recorder) Run(ctx context.Context) {
	batch := make([]Event, 0, batchSize)
	for {
		select {
		case <-ctx.Done():
			r.drain(batch[:0])
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
			if !r.writeRetrying(ctx, batch) {
				// ctx ended while Redis was failing: one last try with the rest.
				r.drain(batch)
				return
			}
		}
	}
}

// writeRetrying writes batch, retrying with backoff until it succeeds (true) or ctx ends
// (false). Meanwhile new events wait in the channel, which bounds what an outage holds. A
// retry may repeat XADDs that had succeeded before the failure: their event ids are
// unchanged, so consumers count them once.
func (r *Recorder) writeRetrying(ctx context.Context, batch []Event) bool {
	wait := r.backoff
	for {
		// Not ctx: a batch taken off the channel is written even if ctx ends meanwhile.
		wctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := r.write(wctx, batch)
		cancel()
		if err == nil {
			return true
		}
		r.logFailure(len(batch), err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// drain writes batch and whatever is still queued, for at most a few seconds; what cannot be
// written then is dropped and counted.
func (r *Recorder) drain(batch []Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
	fill:
		for len(batch) < batchSize {
			select {
			case e := <-r.ch:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		if ctx.Err() != nil || r.write(ctx, batch) != nil {
			n := int64(len(batch)) + int64(len(r.ch))
			r.dropped.Add(context.Background(), n, reasonShutdown)
			r.cfg.Log.Warn("usage events dropped at shutdown: Redis did not take them", "events", n)
			return
		}
		batch = batch[:0]
	}
}

func (r *Recorder) write(ctx context.Context, batch []Event) error {
	if r.cfg.Redis == nil {
		// No Redis configured at all: nothing to wait for.
		r.dropped.Add(ctx, int64(len(batch)), reasonRedis)
		return nil
	}
	_, err := r.cfg.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range batch {
			p.XAdd(ctx, &redis.XAddArgs{
				Stream: r.cfg.Stream,
				MaxLen: r.cfg.MaxLen,
				Approx: true,
				Values: []string{
					"id", e.ID,
					"source", "request",
					"time", strconv.FormatInt(e.Time.UnixMilli(), 10),
					"tenant", e.TenantID,
					"shard", e.Shard,
					"user", e.User,
					"user_kind", e.UserKind,
					"plugin", e.Plugin,
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
	return err
}

func (r *Recorder) logFailure(events int, err error) {
	now := time.Now().UnixNano()
	if last := r.lastLog.Load(); now-last >= int64(time.Minute) && r.lastLog.CompareAndSwap(last, now) {
		r.cfg.Log.Warn("usage events held: Redis write failed, retrying", "events", events, "buffered", len(r.ch), "err", err)
	}
}
