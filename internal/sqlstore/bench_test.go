package sqlstore_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// BenchmarkAllocate100k allocates 100,000 items in one batch (one
// transaction: counter, batch, items, event). Target: under 1 s per op.
func BenchmarkAllocate100k(b *testing.B) {
	for _, d := range sqltest.Dialects {
		b.Run(d.String(), func(b *testing.B) {
			db := sqltest.Open(b, d)
			svc := newService(db)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				_, err := svc.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100",
					LotNumber: fmt.Sprintf("L%d", i), Count: 100_000, ManufacturingDate: "2025-01-15", WarrantyYears: 5})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100_000*float64(b.N)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkListItems1M lists pages of 50 with the seed's and other filters
// over 1,000,000 items and reports the p95 latency. Target: p95 under 10 ms.
func BenchmarkListItems1M(b *testing.B) {
	for _, d := range sqltest.Dialects {
		b.Run(d.String(), func(b *testing.B) {
			db := sqltest.Open(b, d)
			svc := newService(db)
			ctx := context.Background()
			seed1M(b, db, svc)
			from := time.Now().Add(-time.Hour)
			filters := []struct {
				name string
				f    inventory.ItemFilter
			}{
				{"status=available", inventory.ItemFilter{Statuses: []inventory.Status{"available"}, Limit: 50}},
				{"status=generated", inventory.ItemFilter{Statuses: []inventory.Status{"generated"}, Limit: 50}},
				{"lot,sort=serial", inventory.ItemFilter{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L3", Limit: 50, Sort: "serial"}},
				{"uid_prefix", inventory.ItemFilter{UIDPrefix: "PAD-V0100-L7-0004", Limit: 50}},
				{"location", inventory.ItemFilter{Location: "RACK-3", Limit: 50}},
				{"created_from,sort=created_at,desc", inventory.ItemFilter{CreatedFrom: &from, Limit: 50, Sort: "created_at", Desc: true}},
				{"status=available,reserved&type", inventory.ItemFilter{Statuses: []inventory.Status{"available", "reserved"}, ComponentType: "PAD", Limit: 50}},
				{"page_10_of_available", inventory.ItemFilter{Statuses: []inventory.Status{"available"}, Limit: 50, Cursor: cursorAfter(b, svc, 9)}},
			}
			for _, fc := range filters {
				b.Run(fc.name, func(b *testing.B) {
					var lat []time.Duration
					for b.Loop() {
						start := time.Now()
						p, err := svc.List(ctx, fc.f)
						lat = append(lat, time.Since(start))
						if err != nil || len(p.Items) == 0 {
							b.Fatalf("%d items, %v", len(p.Items), err)
						}
					}
					sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
					b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				})
			}
		})
	}
}

// cursorAfter returns the cursor after n pages of available items.
func cursorAfter(b *testing.B, svc *inventory.Service, n int) string {
	f := inventory.ItemFilter{Statuses: []inventory.Status{"available"}, Limit: 50}
	for range n {
		p, err := svc.List(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		f.Cursor = p.NextCursor
	}
	return f.Cursor
}

// seed1M allocates 10 lots of 100,000 and moves some items along.
func seed1M(b *testing.B, db *sqlstore.DB, svc *inventory.Service) {
	b.Helper()
	ctx := context.Background()
	for lot := range 10 {
		if _, err := svc.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100",
			LotNumber: fmt.Sprintf("L%d", lot), Count: 100_000}); err != nil {
			b.Fatal(err)
		}
	}
	// Every 7th item available, every 11th at a location: spread like a real stock.
	for _, q := range []string{
		`UPDATE items SET status = 'available' WHERE serial % 7 = 0`,
		`UPDATE items SET location = 'RACK-3' WHERE serial % 11 = 0`,
	} {
		if _, err := db.SQL().Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	if db.Dialect() == sqlstore.Postgres {
		_, _ = db.SQL().Exec(`ANALYZE items`)
	} else {
		_, _ = db.SQL().Exec(`ANALYZE`)
	}
}

// BenchmarkScanTexts1000 records 1,000 handheld-scanner codes in one
// request (POST /scanning/scans at its limit): payloads decoded, the items
// looked up in one query per 500, 1,000 scans and their events written in
// one transaction.
func BenchmarkScanTexts1000(b *testing.B) {
	for _, d := range sqltest.Dialects {
		b.Run(d.String(), func(b *testing.B) {
			db := sqltest.Open(b, d)
			sb := scanSetup(b, db)
			ctx := qrmfg.WithActor(context.Background(), qrmfg.Actor{Kind: "user", ID: "u-1"})
			mustAllocate(b, sb.inv, "L2025-09", 1000)
			codes := make([]string, 1000)
			for i := range codes {
				codes[i] = fmt.Sprintf("PAD-V0100-L2025-09-%05d", i+1)
			}
			b.ResetTimer()
			for b.Loop() {
				res, err := sb.svc.ScanTexts(ctx, codes, scanning.ScanRequest{Device: "wedge-1"})
				if err != nil || len(res.Codes) != 1000 || res.Codes[999].Verdict != scanning.VerdictValid {
					b.Fatalf("%v %d", err, len(res.Codes))
				}
			}
			b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "codes/s")
		})
	}
}
