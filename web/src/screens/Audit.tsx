import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { Schemas } from "../api/client";
import { useApi, useSession } from "../session";
import { DownloadButton, Empty, ErrorBox, Field, fmtTime, Loading, Page, Select } from "../ui";

export function Audit() {
  const api = useApi();
  const { can } = useSession();
  const [draft, setDraft] = useState({ action: "", object_type: "", object_id: "", outcome: "" });
  const [filters, setFilters] = useState(draft);
  const events = useInfiniteQuery({
    queryKey: ["audit", filters],
    queryFn: ({ pageParam }) => api.get<Schemas["AuditListOutputBody"]>("/audit/events", { ...filters, after: pageParam || undefined, limit: 50 }),
    initialPageParam: 0,
    getNextPageParam: (p) => p.next_after || undefined,
  });
  const verify = useQuery({
    queryKey: ["audit-verify"],
    queryFn: () => api.get<Schemas["AuditVerification"]>("/audit/verify"),
    enabled: can("verify-audit"),
  });
  const set = (k: keyof typeof draft) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const rows = events.data?.pages.flatMap((p) => p.events ?? []) ?? [];
  const exportQuery = Object.fromEntries(Object.entries(filters).filter(([, v]) => v));
  return (
    <Page
      title="Audit trail"
      actions={
        <>
          <DownloadButton path="/audit/export" query={{ ...exportQuery, format: "csv" }} label="Export CSV" />
          <DownloadButton path="/audit/checkpoints" label="Signed checkpoints" />
        </>
      }
    >
      {can("verify-audit") && (
        <div className="card" role="status">
          <h2>Chain</h2>
          {verify.isLoading && <Loading what="Verifying the chain" />}
          <ErrorBox error={verify.error} />
          {verify.data &&
            (verify.data.ok ? (
              <p className="ok">
                ✔ Intact: {verify.data.entries} entries, {verify.data.checkpoints} signed checkpoints.
              </p>
            ) : (
              <p className="warn">✘ Broken at entry {verify.data.first_bad?.seq}: {verify.data.first_bad?.reason}</p>
            ))}
          <button type="button" onClick={() => verify.refetch()}>
            Verify again
          </button>
        </div>
      )}
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        <Field label="Action" value={draft.action} onChange={set("action")} placeholder="qr.batch.generate" />
        <Field label="Object type" value={draft.object_type} onChange={set("object_type")} />
        <Field label="Object id" value={draft.object_id} onChange={set("object_id")} />
        <Select label="Outcome" value={draft.outcome} onChange={set("outcome")} options={[["", "Any"], "success", "denied", "failed"]} />
        <div className="field">
          <button type="submit" className="primary">
            Apply
          </button>
        </div>
      </form>
      {events.isLoading && <Loading />}
      <ErrorBox error={events.error} retry={events.refetch} />
      {events.data &&
        (rows.length ? (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Object</th>
                  <th scope="col">Outcome</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((e) => (
                  <tr key={e.seq}>
                    <td className="num">{e.seq}</td>
                    <td>{fmtTime(e.time)}</td>
                    <td>{e.actor?.name ?? e.actor?.id ?? "—"}</td>
                    <td>
                      <code>{e.action}</code>
                    </td>
                    <td>{[e.object_type, e.object_id].filter(Boolean).join(" ") || "—"}</td>
                    <td>{e.outcome}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No audit entry matches.</Empty>
        ))}
      {events.hasNextPage && (
        <button type="button" onClick={() => events.fetchNextPage()} disabled={events.isFetchingNextPage}>
          More
        </button>
      )}
    </Page>
  );
}
