// Package meter bills API requests beyond a plan's allowance through a Stripe Billing Meter.
//
// Consume counts the gateway's usage stream (RedisPrefix+"atrium:usage", consumer group
// "billing") per tenant and day into billing.usage_daily, moving the consumer's offset in the
// same transaction and acknowledging after commit, so a crash neither loses nor double-counts.
// Report turns each finished day into one report per (tenant, meter, day) whose identifier is
// "<tenant>:<meter>:<day>": the quantity is fixed when the report is created, Stripe keeps one
// event per identifier, and the same identifier is the idempotency key, so however often a
// report is retried (timeouts, crashes, the reconciler) the day is billed once.
package meter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"atrium.dev/services/billing/internal/plans"
	"atrium.dev/services/billing/internal/store"
	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v76"
)

// DefaultClaimAfter: a live consumer reads every 2 s (its blocking read), so a minute idle
// with entries pending is a dead one.
const DefaultClaimAfter = time.Minute

// Window is how far back Stripe accepts meter event timestamps (35 days); a report older
// than Window less a margin is given up as expired.
const Window = 35 * 24 * time.Hour

// margin keeps a report's timestamp safely inside Window when it is sent.
const margin = 12 * time.Hour

// Stripe reports meter events.
type Stripe interface {
	MeterEvent(ctx context.Context, eventName, customer string, value int64, identifier string, ts time.Time) error
}

// Config of a Reporter.
type Config struct {
	Store  *store.Store
	Stripe Stripe
	Plans  *plans.Catalog
	Redis  *redis.Client
	Stream string
	// Group and Consumer of the usage stream; Consumer must be stable across restarts of one
	// replica (its pending entries are read back under that name). Defaults: "billing" and
	// the host name.
	Group, Consumer string
	// ClaimAfter is how long another consumer holding pending entries must have been idle
	// before this one takes them over (default DefaultClaimAfter); Consume checks as often.
	ClaimAfter time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

// Reporter counts usage and reports it.
type Reporter struct{ cfg Config }

// New returns a reporter.
func New(cfg Config) *Reporter {
	if cfg.Group == "" {
		cfg.Group = "billing"
	}
	if cfg.Consumer == "" {
		cfg.Consumer, _ = os.Hostname()
		if cfg.Consumer == "" {
			cfg.Consumer = "billing"
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClaimAfter <= 0 {
		cfg.ClaimAfter = DefaultClaimAfter
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Reporter{cfg: cfg}
}

// Identifier names a (tenant, meter, day) report.
func Identifier(tenantID, meter string, day time.Time) string {
	return tenantID + ":" + meter + ":" + day.Format(time.DateOnly)
}

// Overage is the day's metered quantity: the requests of the day beyond the monthly
// allowance, given the month's requests before the day.
func Overage(allowance, before, day int64) int64 {
	if allowance < 0 {
		return 0
	}
	over := func(n int64) int64 { return max(0, n-allowance) }
	return over(before+day) - over(before)
}

// Report creates the reports of every finished day in the window and sends every unsent
// one. It returns how many were accepted by Stripe.
func (r *Reporter) Report(ctx context.Context) (int, error) {
	now := r.cfg.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	for d := today.Add(-Window + margin).Truncate(24 * time.Hour).Add(24 * time.Hour); d.Before(today); d = d.Add(24 * time.Hour) {
		if err := r.prepare(ctx, d); err != nil {
			return 0, err
		}
	}
	return r.send(ctx, now)
}

// prepare creates the day's reports for tenants on a metered plan.
func (r *Reporter) prepare(ctx context.Context, day time.Time) error {
	usage, err := r.cfg.Store.UsageOn(ctx, day)
	if err != nil {
		return err
	}
	for _, u := range usage {
		sub, err := r.cfg.Store.Subscription(ctx, u.TenantID)
		if err != nil {
			return err
		}
		p, ok := r.cfg.Plans.Get(sub.Plan)
		if !ok || p.Meter == "" || p.MeteredLookupKey == "" || !sub.Live() {
			continue
		}
		q := Overage(p.IncludedRequests, u.MonthBefore, u.Requests)
		if q <= 0 {
			continue
		}
		if err := r.cfg.Store.PutReport(ctx, store.Report{TenantID: u.TenantID, Meter: p.Meter, Day: day, Quantity: q,
			Identifier: Identifier(u.TenantID, p.Meter, day)}); err != nil {
			return err
		}
	}
	return nil
}

// send retries every unsent report still inside Stripe's window.
func (r *Reporter) send(ctx context.Context, now time.Time) (int, error) {
	reports, err := r.cfg.Store.Unsent(ctx, 1000)
	if err != nil {
		return 0, err
	}
	sent := 0
	var errs []error
	for _, rep := range reports {
		// Noon of the day: inside the day whatever the time zone of a dashboard.
		ts := rep.Day.UTC().Add(12 * time.Hour)
		if now.Sub(ts) > Window-margin {
			if err := r.cfg.Store.MarkReport(ctx, rep.Identifier, store.ReportExpired, "outside Stripe's 35-day window"); err != nil {
				return sent, err
			}
			continue
		}
		if ts.After(now) {
			ts = now
		}
		cus, err := r.cfg.Store.Customer(ctx, rep.TenantID)
		if err != nil {
			return sent, err
		}
		if cus == "" {
			continue
		}
		err = r.cfg.Stripe.MeterEvent(ctx, rep.Meter, cus, rep.Quantity, rep.Identifier, ts)
		status, msg := store.ReportSent, ""
		if err != nil && !duplicate(err) {
			status, msg = store.ReportFailed, err.Error()
			errs = append(errs, fmt.Errorf("report %s: %w", rep.Identifier, err))
		}
		if err := r.cfg.Store.MarkReport(ctx, rep.Identifier, status, msg); err != nil {
			return sent, err
		}
		if status == store.ReportSent {
			sent++
		}
	}
	return sent, errors.Join(errs...)
}

// duplicate: Stripe already has an event with this identifier, i.e. an earlier attempt got
// through and only its answer was lost. That is success.
func duplicate(err error) bool {
	var se *stripe.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != http.StatusBadRequest {
		return false
	}
	m := strings.ToLower(se.Msg)
	return strings.Contains(m, "identifier") && (strings.Contains(m, "already") || strings.Contains(m, "duplicate"))
}

// Consume reads the usage stream until ctx ends.
func (r *Reporter) Consume(ctx context.Context) {
	rdb := r.cfg.Redis
	if rdb == nil {
		return
	}
	for ctx.Err() == nil {
		err := rdb.XGroupCreateMkStream(ctx, r.cfg.Stream, r.cfg.Group, "$").Err()
		if err == nil || strings.Contains(err.Error(), "BUSYGROUP") {
			break
		}
		r.cfg.Log.WarnContext(ctx, "usage stream group", "err", err)
		sleep(ctx, 5*time.Second)
	}
	// Our own pending entries first (delivered before a crash, never acknowledged), then new.
	pending := true
	nextClaim := time.Now()
	for ctx.Err() == nil {
		if time.Now().After(nextClaim) {
			nextClaim = time.Now().Add(r.cfg.ClaimAfter)
			if _, err := r.ClaimIdle(ctx, r.cfg.ClaimAfter); err != nil && ctx.Err() == nil {
				r.cfg.Log.WarnContext(ctx, "usage stream claim", "err", err)
			}
		}
		start := ">"
		if pending {
			start = "0"
		}
		n, err := r.ConsumeOnce(ctx, start, 2*time.Second)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Log.WarnContext(ctx, "usage stream read", "err", err)
				sleep(ctx, 2*time.Second)
			}
			continue
		}
		if pending && n == 0 {
			pending = false
		}
	}
}

// ConsumeOnce reads one batch from start ("0": this consumer's pending entries, ">": new
// ones), counts it and acknowledges it. Entries at or below the consumer's stored offset
// were already counted (the crash came between commit and acknowledgement): they are only
// acknowledged.
func (r *Reporter) ConsumeOnce(ctx context.Context, start string, block time.Duration) (int, error) {
	return r.consumeAs(ctx, r.cfg.Consumer, start, block)
}

// ClaimIdle drains the pending entries of every other consumer of the group idle for at
// least minIdle (a billing replica that died holding entries it read but never acknowledged:
// with pod names as consumer names nothing would ever read them again, and their requests
// would never be billed). It returns how many entries it took over.
//
// It reads them as the dead consumer (XREADGROUP under its name from "0") rather than moving
// them with XAUTOCLAIM: whether an entry was already counted is decided by the offset of the
// consumer that read it, and XAUTOCLAIM would drop that owner, so an entry committed but not
// acknowledged before the crash would be counted twice, or one taken over and then lost in
// a second crash judged by the wrong offset. Reading refreshes the dead consumer's idle time,
// so other replicas leave it alone meanwhile, and the offset row is locked while counting,
// so two replicas (or the dead one coming back) never count an entry twice.
func (r *Reporter) ClaimIdle(ctx context.Context, minIdle time.Duration) (int, error) {
	rdb := r.cfg.Redis
	consumers, err := rdb.XInfoConsumers(ctx, r.cfg.Stream, r.cfg.Group).Result()
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, c := range consumers {
		if c.Name == r.cfg.Consumer || c.Pending == 0 || c.Idle < minIdle {
			continue
		}
		for {
			n, err := r.consumeAs(ctx, c.Name, "0", 0)
			total += n
			if err != nil {
				errs = append(errs, fmt.Errorf("consumer %s: %w", c.Name, err))
				break
			}
			if n == 0 {
				break
			}
		}
		r.cfg.Log.InfoContext(ctx, "usage stream: took over an idle consumer's entries", "consumer", c.Name, "idle", c.Idle)
	}
	return total, errors.Join(errs...)
}

func (r *Reporter) consumeAs(ctx context.Context, consumer, start string, block time.Duration) (int, error) {
	rdb := r.cfg.Redis
	args := &redis.XReadGroupArgs{
		Group: r.cfg.Group, Consumer: consumer, Streams: []string{r.cfg.Stream, start}, Count: 1000, Block: block,
	}
	if block == 0 {
		args.Block = -1 // go-redis: 0 would block forever; a history read never blocks anyway
	}
	res, err := rdb.XReadGroup(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var msgs []redis.XMessage
	for _, s := range res {
		msgs = append(msgs, s.Messages...)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	// The offset is read locked, inside the transaction of the counts: a replica taking over
	// this consumer's entries and the consumer itself never both count one.
	err = r.cfg.Store.Tx(ctx, func(tx *store.Store) error {
		offset, err := tx.LockOffset(ctx, consumer)
		if err != nil {
			return err
		}
		counts := map[[2]string]int64{}
		last := offset
		for _, m := range msgs {
			if offset != "" && !after(m.ID, offset) {
				continue
			}
			if last == "" || after(m.ID, last) {
				last = m.ID
			}
			tenant, _ := m.Values["tenant"].(string)
			if tenant == "" {
				continue
			}
			ms, _ := strconv.ParseInt(fmt.Sprint(m.Values["time"]), 10, 64)
			day := time.UnixMilli(ms).UTC().Format(time.DateOnly)
			counts[[2]string{tenant, day}]++
		}
		if last == offset {
			return nil
		}
		if err := tx.AddUsage(ctx, counts); err != nil {
			return err
		}
		return tx.SetOffset(ctx, consumer, last)
	})
	if err != nil {
		return 0, err
	}
	if err := rdb.XAck(ctx, r.cfg.Stream, r.cfg.Group, ids...).Err(); err != nil {
		return len(msgs), err
	}
	return len(msgs), nil
}

// after reports whether stream id a is after b ("ms-seq").
func after(a, b string) bool {
	am, as := split(a)
	bm, bs := split(b)
	return am > bm || am == bm && as > bs
}

func split(id string) (int64, int64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseInt(ms, 10, 64)
	s, _ := strconv.ParseInt(seq, 10, 64)
	return m, s
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
