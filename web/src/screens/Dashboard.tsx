import { useQuery } from "@tanstack/react-query";
import type { Schemas } from "../api/client";
import { Link } from "../router";
import { useApi, useSession } from "../session";
import { Empty, ErrorBox, fmtTime, Loading, Page, Progress, Status } from "../ui";

export function Dashboard() {
  const api = useApi();
  const { can } = useSession();
  const analytics = useQuery({
    queryKey: ["analytics"],
    queryFn: () => api.get<Schemas["Analytics"]>("/inventory/analytics"),
    enabled: can("inventory-analytics"),
    refetchInterval: 30_000,
  });
  const machines = useQuery({
    queryKey: ["machines"],
    queryFn: () => api.get<Schemas["MachinesOutputBody"]>("/engraving/machines"),
    enabled: can("list-machines"),
    refetchInterval: 5_000,
  });
  const jobs = useQuery({
    queryKey: ["jobs", "running"],
    queryFn: () => api.get<Schemas["JobsOutputBody"]>("/engraving/jobs", { status: "running", limit: 20 }),
    enabled: can("list-engraving-jobs"),
    refetchInterval: 3_000,
  });
  const scans = useQuery({
    queryKey: ["scans", "recent"],
    queryFn: () => api.get<Schemas["ScanPage"]>("/scanning/scans", { limit: 10 }),
    enabled: can("list-scans"),
    refetchInterval: 10_000,
  });
  const a = analytics.data && { by_status: analytics.data.by_status ?? [], by_type: analytics.data.by_type ?? [], stock: analytics.data.stock ?? [], per_day: analytics.data.per_day ?? [] };
  const machineList = machines.data?.machines ?? [];
  const jobList = jobs.data?.jobs ?? [];
  const scanList = scans.data?.scans ?? [];
  return (
    <Page title="Dashboard">
      <div className="grid">
        <div className="card">
          <h2>Stock by status</h2>
          {analytics.isLoading ? <Loading /> : <ErrorBox error={analytics.error} retry={analytics.refetch} />}
          {a && (a.by_status.length ? <Bars rows={a.by_status} label="Items by status" /> : <Empty>No items yet. Generate a batch to start.</Empty>)}
        </div>
        <div className="card">
          <h2>Stock by type</h2>
          {a && (a.by_type.length ? <Bars rows={a.by_type} label="Items by component type" /> : <Empty>No items yet.</Empty>)}
        </div>
        <div className="card">
          <h2>Low stock</h2>
          {a &&
            (a.stock.filter((s) => s.low).length ? (
              <ul className="plain">
                {a.stock
                  .filter((s) => s.low)
                  .map((s) => (
                    <li key={s.component_type + s.vendor_code} className="warn">
                      {s.component_type} {s.vendor_code}: {s.available} available (minimum {s.min_available})
                    </li>
                  ))}
              </ul>
            ) : (
              <Empty>No type is below its threshold.</Empty>
            ))}
        </div>
        <div className="card wide">
          <h2>Codes generated per day</h2>
          {a && (a.per_day.length ? <DayChart days={a.per_day} /> : <Empty>Nothing generated in the period.</Empty>)}
        </div>
        {can("list-machines") && (
          <div className="card">
            <h2>Machines</h2>
            {machines.isLoading && <Loading />}
            <ErrorBox error={machines.error} />
            {machines.data &&
              (machineList.length ? (
                <ul className="plain">
                  {machineList.map((m) => (
                    <li key={m.id}>
                      <strong>{m.name}</strong> <Status s={m.state} /> {m.alarm_text && <span className="warn">{m.alarm_text}</span>}
                    </li>
                  ))}
                </ul>
              ) : (
                <Empty>No machine registered.</Empty>
              ))}
          </div>
        )}
        {can("list-engraving-jobs") && (
          <div className="card">
            <h2>Running jobs</h2>
            {jobs.data &&
              (jobList.length ? (
                <ul className="plain">
                  {jobList.map((j) => (
                    <li key={j.id}>
                      <Link to={`/engraving/jobs/${j.id}`}>{j.item_uid}</Link>
                      <Progress done={j.lines_acked} total={j.lines_total} label={`Job ${j.id}`} />
                    </li>
                  ))}
                </ul>
              ) : (
                <Empty>No job running.</Empty>
              ))}
          </div>
        )}
        {can("list-scans") && (
          <div className="card wide">
            <h2>Recent scans</h2>
            <ErrorBox error={scans.error} />
            {scans.data &&
              (scanList.length ? (
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">When</th>
                        <th scope="col">Code</th>
                        <th scope="col">Verdict</th>
                        <th scope="col">Grade</th>
                      </tr>
                    </thead>
                    <tbody>
                      {scanList.map((s) => (
                        <tr key={s.id}>
                          <td>{fmtTime(s.at)}</td>
                          <td>{s.uid ? <Link to={`/inventory/${s.uid}`}>{s.uid}</Link> : <code>{s.payload.slice(0, 40)}</code>}</td>
                          <td>
                            <Status s={s.verdict} />
                          </td>
                          <td>{grade(s.grade)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <Empty>No scans yet.</Empty>
              ))}
          </div>
        )}
      </div>
    </Page>
  );
}

function Bars({ rows, label }: { rows: Schemas["Count"][]; label: string }) {
  const max = Math.max(...rows.map((r) => r.count), 1);
  return (
    <table className="bars" aria-label={label}>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key}>
            <th scope="row">{r.key.replaceAll("_", " ")}</th>
            <td>
              <svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                <rect width={(100 * r.count) / max} height="10" />
              </svg>
            </td>
            <td className="num">{r.count}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function DayChart({ days }: { days: Schemas["DayCount"][] }) {
  const w = 600;
  const h = 160;
  const max = Math.max(...days.map((d) => d.generated), 1);
  const bw = Math.min(w / days.length, 48);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h + 20}`} role="img" aria-label={`Codes generated per day, ${days.length} days, at most ${max} a day`}>
        {days.map((d, i) => {
          const bh = (h * d.generated) / max;
          return (
            <g key={d.day}>
              <rect x={i * bw + 1} y={h - bh} width={Math.max(bw - 2, 1)} height={bh}>
                <title>
                  {d.day}: {d.generated} generated, {d.engraved} engraved, {d.shipped} shipped
                </title>
              </rect>
              {(days.length <= 10 || i % Math.ceil(days.length / 8) === 0) && (
                <text x={i * bw + bw / 2} y={h + 14} textAnchor="middle">
                  {d.day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

export function grade(g?: Schemas["MarkGrade"]) {
  return g ? `${g.letter} (${g.overall.toFixed(1)})` : "—";
}
