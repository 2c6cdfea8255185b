import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { Schemas } from "../api/client";
import { Link, navigate } from "../router";
import { useApi, useSession } from "../session";
import { AuthImage, DownloadButton, Empty, ErrorBox, Field, fmtTime, Loading, Page, Select, Status, useProblem } from "../ui";
import { grade } from "./Dashboard";

type Filters = { status: string; component_type: string; vendor_code: string; lot_number: string; uid_prefix: string; sort: string; order: string };
const noFilters: Filters = { status: "", component_type: "", vendor_code: "", lot_number: "", uid_prefix: "", sort: "created_at", order: "desc" };

export function Inventory() {
  const api = useApi();
  const { can } = useSession();
  const [draft, setDraft] = useState<Filters>(noFilters);
  const [filters, setFilters] = useState<Filters>(noFilters);
  const [cursors, setCursors] = useState<string[]>([""]); // the cursor of each page seen
  const cursor = cursors[cursors.length - 1];
  const statuses = useQuery({ queryKey: ["statuses"], queryFn: () => api.get<Schemas["StatusesOutputBody"]>("/inventory/statuses"), staleTime: Infinity });
  const page = useQuery({
    queryKey: ["items", filters, cursor],
    queryFn: ({ signal }) => api.get<Schemas["ItemPage"]>("/inventory/items", { ...filters, limit: 50, cursor, total: !cursor }, signal),
    placeholderData: keepPreviousData,
  });
  const [total, setTotal] = useState<number>();
  if (page.data?.total !== undefined && page.data.total !== total && !cursor) setTotal(page.data.total);
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const exportQuery = Object.fromEntries(Object.entries(filters).filter(([k, v]) => v && k !== "sort" && k !== "order"));
  return (
    <Page
      title="Inventory"
      actions={can("export-items") && <DownloadButton path="/inventory/export.csv" query={exportQuery} label="Export CSV" />}
    >
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
          setCursors([""]);
        }}
      >
        <Select label="Status" value={draft.status} onChange={set("status")} options={[["", "Any"], ...(statuses.data?.statuses ?? [])]} />
        <Field label="Type" value={draft.component_type} onChange={set("component_type")} placeholder="PAD" />
        <Field label="Vendor" value={draft.vendor_code} onChange={set("vendor_code")} placeholder="V0100" />
        <Field label="Lot" value={draft.lot_number} onChange={set("lot_number")} />
        <Field label="UID starts with" value={draft.uid_prefix} onChange={set("uid_prefix")} />
        <Select
          label="Sort by"
          value={draft.sort}
          onChange={set("sort")}
          options={[
            ["created_at", "Created"],
            ["uid", "UID"],
            ["status", "Status"],
            ["updated_at", "Updated"],
          ]}
        />
        <Select
          label="Order"
          value={draft.order}
          onChange={set("order")}
          options={[
            ["desc", "Newest first"],
            ["asc", "Oldest first"],
          ]}
        />
        <div className="field">
          <button type="submit" className="primary">
            Apply
          </button>
        </div>
      </form>
      {page.isLoading && <Loading what="Loading items" />}
      <ErrorBox error={page.error} retry={page.refetch} />
      {page.data &&
        ((page.data.items ?? []).length === 0 ? (
          <Empty>No item matches these filters.</Empty>
        ) : (
          <>
            <p className="muted" aria-live="polite">
              {total !== undefined && `${total} items · `}page {cursors.length}
            </p>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">UID</th>
                    <th scope="col">Status</th>
                    <th scope="col" className="wide-only">
                      Location
                    </th>
                    <th scope="col" className="wide-only">
                      Created
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {(page.data.items ?? []).map((it) => (
                    <tr key={it.uid}>
                      <td className="uid">
                        <Link to={`/inventory/${it.uid}`}>{it.uid}</Link>
                      </td>
                      <td>
                        <Status s={it.status} />
                      </td>
                      <td className="wide-only">{it.location || "—"}</td>
                      <td className="wide-only">{fmtTime(it.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div className="pager">
              <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
                Previous
              </button>
              <button type="button" disabled={!page.data.next_cursor} onClick={() => setCursors([...cursors, page.data!.next_cursor!])}>
                Next
              </button>
            </div>
          </>
        ))}
      {can("import-items") && <Import />}
    </Page>
  );
}

function Import() {
  const api = useApi();
  const qc = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [report, setReport] = useState<Schemas["ImportReport"] | null>(null);
  const problem = useProblem();
  const run = async (dry: boolean) => {
    if (!file) return;
    problem.set(null);
    try {
      const r = await api.call<Schemas["ImportReport"]>("POST", "/inventory/import", {
        query: { dry_run: dry },
        body: await file.text(),
        headers: { "Content-Type": "text/csv" },
      });
      setReport(r);
      if (!dry) qc.invalidateQueries({ queryKey: ["items"] });
    } catch (e) {
      problem.set(e);
    }
  };
  return (
    <details className="card">
      <summary>Import CSV</summary>
      <div className="field">
        <label htmlFor="import-file">CSV file (the export's columns)</label>
        <input id="import-file" type="file" accept=".csv,text/csv" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </div>
      <div className="actions">
        <button type="button" disabled={!file} onClick={() => run(true)}>
          Check
        </button>
        <button type="button" className="primary" disabled={!file || !report || (report.errors ?? []).length > 0 || !report.dry_run} onClick={() => run(false)}>
          Import
        </button>
      </div>
      <ErrorBox error={problem.error} />
      {report && (
        <div role="status">
          <p>
            {report.rows} rows, {report.valid} valid{report.dry_run ? " (checked, nothing imported)" : `, ${report.imported} imported`}.
          </p>
          {(report.errors ?? []).length > 0 && (
            <table>
              <caption>Rows with errors</caption>
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Field</th>
                  <th scope="col">Problem</th>
                </tr>
              </thead>
              <tbody>
                {(report.errors ?? []).map((e, i) => (
                  <tr key={i}>
                    <td>{e.line}</td>
                    <td>{e.column ?? "—"}</td>
                    <td>{e.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </details>
  );
}

export function ItemPage({ uid }: { uid: string }) {
  const api = useApi();
  const { can } = useSession();
  const qc = useQueryClient();
  const enc = encodeURIComponent(uid);
  const item = useQuery({ queryKey: ["item", uid], queryFn: () => api.get<Schemas["ItemDetail"]>(`/inventory/items/${enc}`) });
  const statuses = useQuery({ queryKey: ["statuses"], queryFn: () => api.get<Schemas["StatusesOutputBody"]>("/inventory/statuses"), staleTime: Infinity });
  const scans = useQuery({ queryKey: ["scans", uid], queryFn: () => api.get<Schemas["ScanPage"]>("/scanning/scans", { uid, limit: 20 }), enabled: can("list-scans") });
  const jobs = useQuery({ queryKey: ["jobs", "item", uid], queryFn: () => api.get<Schemas["JobsOutputBody"]>("/engraving/jobs", { item_uid: uid, limit: 20 }), enabled: can("list-engraving-jobs") });
  const up = useQuery({ queryKey: ["upstream", uid], queryFn: () => api.get<Schemas["Node"]>(`/inventory/items/${enc}/upstream`) });
  const problem = useProblem();
  const [reason, setReason] = useState("");
  const transition = useMutation({
    mutationFn: (to: string) => api.post<Schemas["Item"]>(`/inventory/items/${enc}/transitions`, { to, reason: reason || undefined, version: item.data?.version }),
    onSuccess: () => {
      problem.set(null);
      setReason("");
      qc.invalidateQueries({ queryKey: ["item", uid] });
    },
    onError: problem.set,
  });
  if (item.isLoading) return <Loading what="Loading the item" />;
  if (item.error)
    return (
      <Page title={uid}>
        <ErrorBox error={item.error} retry={item.refetch} />
        <Link to="/inventory">Back to the inventory</Link>
      </Page>
    );
  const it = item.data!;
  const next = statuses.data?.transitions[it.status] ?? [];
  return (
    <Page title={it.uid} actions={<Status s={it.status} />}>
      <div className="grid">
        <div className="card">
          {can("item-image") ? <AuthImage path={`/qr/items/${enc}.png`} alt={`QR code of ${it.uid}`} className="qr" /> : <Empty>Codes are not shown to your role.</Empty>}
          {can("item-image") && (
            <div className="actions">
              <DownloadButton path={`/qr/items/${enc}.svg`} label="SVG" />
              <DownloadButton path={`/qr/items/${enc}.pdf`} label="PDF" />
            </div>
          )}
        </div>
        <div className="card">
          <h2>Details</h2>
          <dl className="kv">
            <dt>Type</dt>
            <dd>{it.component_type}</dd>
            <dt>Vendor</dt>
            <dd>{it.vendor_code}</dd>
            <dt>Lot</dt>
            <dd>{it.lot_number}</dd>
            <dt>Serial</dt>
            <dd>{it.serial}</dd>
            <dt>Location</dt>
            <dd>{it.location || "—"}</dd>
            <dt>Manufactured</dt>
            <dd>{it.manufacturing_date ?? "—"}</dd>
            <dt>Warranty until</dt>
            <dd>{it.warranty_end ?? "—"}</dd>
            <dt>Last seen</dt>
            <dd>
              {fmtTime(it.last_seen_at)} {it.last_seen_location}
            </dd>
            <dt>Parent</dt>
            <dd>{it.parent_uid ? <Link to={`/inventory/${it.parent_uid}`}>{it.parent_uid}</Link> : "—"}</dd>
          </dl>
        </div>
        {can("transition-item") && (
          <div className="card">
            <h2>Change status</h2>
            {next.length === 0 ? (
              <Empty>{it.status} is final: no transition.</Empty>
            ) : (
              <>
                <Field label="Reason (optional)" value={reason} onChange={(e) => setReason(e.target.value)} error={problem.fields.reason} />
                <div className="actions">
                  {next.map((to) => (
                    <button key={to} type="button" disabled={transition.isPending} onClick={() => transition.mutate(to)}>
                      → {to.replaceAll("_", " ")}
                    </button>
                  ))}
                </div>
              </>
            )}
            <ErrorBox error={problem.fields.reason ? null : problem.error} />
          </div>
        )}
        <div className="card wide">
          <h2>Timeline</h2>
          <Timeline item={it} scans={scans.data?.scans ?? []} jobs={jobs.data?.jobs ?? []} />
        </div>
        <div className="card">
          <h2>Genealogy</h2>
          {up.data && <Tree node={up.data} here={uid} />}
          {(it.children ?? []).length > 0 && (
            <>
              <h3>Installed parts</h3>
              <ul>
                {(it.children ?? []).map((c) => (
                  <li key={c}>
                    <Link to={`/inventory/${c}`}>{c}</Link>
                  </li>
                ))}
              </ul>
            </>
          )}
          {!up.data?.children?.length && (it.children ?? []).length === 0 && <Empty>Not part of an assembly.</Empty>}
        </div>
      </div>
      <p>
        <button type="button" className="link" onClick={() => navigate("/inventory")}>
          ← Inventory
        </button>
      </p>
    </Page>
  );
}

function Tree({ node, here }: { node: Schemas["Node"]; here: string }) {
  return (
    <ul className="tree">
      <li>
        {node.item.uid === here ? <strong>{node.item.uid}</strong> : <Link to={`/inventory/${node.item.uid}`}>{node.item.uid}</Link>}
        {node.children?.map((c) => <Tree key={c.item.uid} node={c} here={here} />)}
      </li>
    </ul>
  );
}

function Timeline({ item, scans, jobs }: { item: Schemas["ItemDetail"]; scans: Schemas["Scan"][]; jobs: Schemas["Job"][] }) {
  const rows = [
    ...(item.history ?? []).map((h) => ({ at: h.at, what: `${h.kind.replaceAll("_", " ")}${h.from || h.to ? `: ${h.from ?? ""} → ${h.to ?? ""}` : ""}`, who: h.actor, note: h.reason })),
    ...scans.map((s) => ({ at: s.at, what: `scan: ${s.verdict}`, who: s.actor, note: [s.location, s.grade && `grade ${grade(s.grade)}`].filter(Boolean).join(", ") })),
    ...jobs.map((j) => ({ at: j.created_at, what: `engraving #${j.attempt}: ${j.status}`, who: j.created_by, note: j.error_text })),
  ].sort((a, b) => b.at.localeCompare(a.at));
  if (!rows.length) return <Empty>No history.</Empty>;
  return (
    <ol className="timeline">
      {rows.map((r, i) => (
        <li key={i}>
          <time dateTime={r.at}>{fmtTime(r.at)}</time> <strong>{r.what}</strong> {r.who && <span className="muted">by {r.who}</span>} {r.note && <span>— {r.note}</span>}
        </li>
      ))}
    </ol>
  );
}
