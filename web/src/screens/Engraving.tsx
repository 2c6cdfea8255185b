import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { Schemas } from "../api/client";
import { Link, navigate } from "../router";
import { useApi, useSession } from "../session";
import { AuthImage, Empty, ErrorBox, Field, fmtSeconds, fmtTime, Live, Loading, Page, Progress, Select, Status, useProblem, useStream } from "../ui";

type Job = Schemas["Job"];
type Machine = Schemas["MachineStatus"];
const priorities = ["urgent", "high", "normal", "low"];
const priorityRank: Record<string, number> = Object.fromEntries(priorities.map((p, i) => [p, i]));

/** The priority one step up (-1) or down (+1), or null at either end. */
export function stepPriority(p: string, dir: -1 | 1): string | null {
  return priorities[(priorityRank[p] ?? 2) + dir] ?? null;
}

/** The queue order: running first, then by priority, then oldest first. */
export function queueOrder(a: Job, b: Job) {
  const run = (j: Job) => (j.status === "running" ? 0 : 1);
  return run(a) - run(b) || (priorityRank[a.priority] ?? 9) - (priorityRank[b.priority] ?? 9) || a.created_at.localeCompare(b.created_at);
}

export function Engraving() {
  const api = useApi();
  const { can } = useSession();
  const [status, setStatus] = useState("");
  const jobs = useQuery({
    queryKey: ["jobs", status],
    queryFn: () => api.get<Schemas["JobsOutputBody"]>("/engraving/jobs", { status, limit: 100 }),
    refetchInterval: 3000,
  });
  const machines = useQuery({ queryKey: ["machines"], queryFn: () => api.get<Schemas["MachinesOutputBody"]>("/engraving/machines"), enabled: can("list-machines") });
  return (
    <Page title="Engraving">
      {can("list-machines") && (
        <section aria-labelledby="machines-h">
          <h2 id="machines-h">Machines</h2>
          {machines.isLoading && <Loading />}
          <ErrorBox error={machines.error} retry={machines.refetch} />
          {machines.data && ((machines.data.machines ?? []).length ? <div className="grid">{(machines.data.machines ?? []).map((m) => <MachineCard key={m.id} initial={m} />)}</div> : <Empty>No machine registered yet.</Empty>)}
        </section>
      )}
      {can("create-engraving-job") && <NewJob machines={machines.data?.machines ?? []} />}
      <section aria-labelledby="queue-h">
        <div className="page-head">
          <h2 id="queue-h">Queue</h2>
          <Select label="Status" value={status} onChange={(e) => setStatus(e.target.value)} options={[["", "Any"], "queued", "running", "interrupted", "completed", "failed", "cancelled"]} />
        </div>
        {jobs.isLoading && <Loading />}
        <ErrorBox error={jobs.error} retry={jobs.refetch} />
        {jobs.data &&
          ((jobs.data.jobs ?? []).length ? (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Item</th>
                    <th scope="col">Priority</th>
                    <th scope="col">Status</th>
                    <th scope="col">Progress</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {[...(jobs.data.jobs ?? [])].sort(queueOrder).map((j) => (
                    <tr key={j.id}>
                      <td>
                        <Link to={`/engraving/jobs/${j.id}`}>{j.item_uid}</Link>
                      </td>
                      <td>{j.status === "queued" && can("set-engraving-job-priority") ? <PriorityControl job={j} /> : j.priority}</td>
                      <td>
                        <Status s={j.status} />
                      </td>
                      <td>
                        <Progress done={j.lines_acked} total={j.lines_total} label={`Progress of ${j.item_uid}`} />
                      </td>
                      <td>{fmtTime(j.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty>No engraving job{status ? ` is ${status}` : " yet"}.</Empty>
          ))}
      </section>
    </Page>
  );
}

/** Raise or lower a queued job's priority; the queue re-sorts and keeps focus on the pressed button. */
function PriorityControl({ job }: { job: Job }) {
  const api = useApi();
  const qc = useQueryClient();
  const [err, setErr] = useState<unknown>(null);
  const change = useMutation({
    mutationFn: (priority: string) => api.patch<Job>(`/engraving/jobs/${job.id}`, { priority }),
    onMutate: () => setErr(null),
    onError: setErr,
    onSuccess: () => qc.invalidateQueries({ queryKey: ["jobs"] }),
  });
  const button = (dir: -1 | 1) => {
    const to = stepPriority(job.priority, dir);
    const name = `${dir < 0 ? "Raise" : "Lower"} the priority of ${job.item_uid}${to ? ` to ${to}` : ""}`;
    return (
      <button
        type="button"
        className="icon-btn"
        aria-label={name}
        title={name}
        disabled={!to || change.isPending}
        onClick={(e) => {
          const el = e.currentTarget;
          change.mutate(to!, { onSettled: () => requestAnimationFrame(() => el.isConnected && el.focus()) });
        }}
      >
        {dir < 0 ? "▲" : "▼"}
      </button>
    );
  };
  return (
    <div className="priority">
      <span>{job.priority}</span>
      {button(-1)}
      {button(1)}
      {err != null && <ErrorBox error={err} />}
    </div>
  );
}

function MachineCard({ initial }: { initial: Machine }) {
  const api = useApi();
  const { can } = useSession();
  const [m, setM] = useState(initial);
  const [err, setErr] = useState<unknown>(null);
  const { live } = useStream(`/engraving/machines/${initial.id}/events`, (e, d) => {
    if (e === "machine") setM(d as Machine);
  });
  const act = async (what: string, body?: unknown) => {
    setErr(null);
    try {
      setM(await api.post<Machine>(`/engraving/machines/${m.id}/${what}`, body));
    } catch (e) {
      setErr(e);
    }
  };
  const buttons: [string, string, boolean][] = [
    ["connect", "Connect", !m.connected],
    ["home", "Home", m.connected],
    ["unlock", "Unlock", m.connected && m.state.toLowerCase() === "alarm"],
    ["pause", "Pause", m.connected && !m.paused],
    ["resume", "Resume", m.connected && m.paused],
    ["disconnect", "Disconnect", m.connected],
  ];
  return (
    <article className="card" aria-label={`Machine ${m.name}`}>
      <h3>
        {m.name} <Status s={m.state} /> <Live live={live} />
      </h3>
      <dl className="kv">
        <dt>Controller</dt>
        <dd>{m.grbl_state || "—"}</dd>
        <dt>Laser</dt>
        <dd>{m.laser_on ? <strong className="warn">ON</strong> : "off"}</dd>
        <dt>Job</dt>
        <dd>{m.job_id ? <Link to={`/engraving/jobs/${m.job_id}`}>{m.job_id}</Link> : "—"}</dd>
        {m.alarm_text && (
          <>
            <dt>Alarm</dt>
            <dd className="warn">
              {m.alarm_code}: {m.alarm_text}
            </dd>
          </>
        )}
        {m.pause_reason && (
          <>
            <dt>Paused</dt>
            <dd>{m.pause_reason}</dd>
          </>
        )}
        {m.needs_homing && (
          <>
            <dt>Homing</dt>
            <dd className="warn">needed</dd>
          </>
        )}
        {m.last_error && (
          <>
            <dt>Last error</dt>
            <dd>{m.last_error}</dd>
          </>
        )}
      </dl>
      <div className="actions">
        {buttons
          .filter(([what, , show]) => show && can(`${what}-machine`))
          .map(([what, label]) => (
            <button key={what} type="button" onClick={() => act(what, what === "pause" ? { reason: "paused from the UI" } : undefined)}>
              {label}
            </button>
          ))}
      </div>
      <ErrorBox error={err} />
    </article>
  );
}

function NewJob({ machines }: { machines: Machine[] }) {
  const api = useApi();
  const qc = useQueryClient();
  const [f, setF] = useState({ item_uid: "", machine_id: "", priority: "normal", power: "60", speed: "1200", passes: "1", depth: "0" });
  const problem = useProblem();
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const create = useMutation({
    mutationFn: () =>
      api.post<Job>("/engraving/jobs", {
        item_uid: f.item_uid.trim(),
        machine_id: f.machine_id || undefined,
        priority: f.priority,
        laser_settings: { power: Number(f.power), speed: Number(f.speed), passes: Number(f.passes), depth: Number(f.depth) },
      }),
    onSuccess: (j) => {
      qc.invalidateQueries({ queryKey: ["jobs"] });
      navigate(`/engraving/jobs/${j.id}`);
    },
    onError: problem.set,
  });
  const fe = problem.fields;
  return (
    <details className="card">
      <summary>Queue an engraving</summary>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          problem.set(null);
          create.mutate();
        }}
      >
        <div className="row">
          <Field label="Item UID" required value={f.item_uid} onChange={set("item_uid")} error={fe.item_uid} />
          <Select label="Machine" value={f.machine_id} onChange={set("machine_id")} error={fe.machine_id} options={[["", "Any free machine"], ...(machines ?? []).map((m): [string, string] => [m.id, m.name])]} />
          <Select label="Priority" value={f.priority} onChange={set("priority")} error={fe.priority} options={["urgent", "high", "normal", "low"]} />
        </div>
        <div className="row">
          <Field label="Power (%)" type="number" step="any" value={f.power} onChange={set("power")} error={fe["laser_settings.power"]} />
          <Field label="Speed (mm/min)" type="number" step="any" value={f.speed} onChange={set("speed")} error={fe["laser_settings.speed"]} />
          <Field label="Passes" type="number" value={f.passes} onChange={set("passes")} error={fe["laser_settings.passes"]} />
          <Field label="Depth (mm)" type="number" step="any" value={f.depth} onChange={set("depth")} error={fe["laser_settings.depth"]} />
        </div>
        <ErrorBox error={problem.general} />
        <button type="submit" className="primary" disabled={create.isPending}>
          Queue
        </button>
      </form>
    </details>
  );
}

export function JobPage({ id }: { id: string }) {
  const api = useApi();
  const { can } = useSession();
  const qc = useQueryClient();
  const job = useQuery({ queryKey: ["job", id], queryFn: () => api.get<Job>(`/engraving/jobs/${id}`) });
  const [err, setErr] = useState<unknown>(null);
  const final = job.data && ["completed", "failed", "cancelled"].includes(job.data.status);
  const { live } = useStream(job.data && !final ? `/engraving/jobs/${id}/events` : null, (e, d) => {
    if (e === "job") qc.setQueryData(["job", id], d);
  });
  if (job.isLoading) return <Loading what="Loading the job" />;
  if (job.error)
    return (
      <Page title="Engraving job">
        <ErrorBox error={job.error} retry={job.refetch} />
      </Page>
    );
  const j = job.data!;
  const post = async (path: string, body?: unknown) => {
    setErr(null);
    try {
      const r = await api.post<Job | { job: Job }>(`/engraving/jobs/${id}/${path}`, body);
      qc.setQueryData(["job", id], "job" in r && typeof r.job === "object" ? r.job : r);
      qc.invalidateQueries({ queryKey: ["jobs"] });
    } catch (e) {
      setErr(e);
    }
  };
  return (
    <Page title={`Engraving ${j.item_uid}`} actions={<Status s={j.status} />}>
      <div className="grid">
        <div className="card">
          <h2>Progress {!final && <Live live={live} />}</h2>
          <Progress done={j.lines_acked} total={j.lines_total} label="G-code lines acknowledged" />
          <dl className="kv">
            <dt>Item</dt>
            <dd>
              <Link to={`/inventory/${j.item_uid}`}>{j.item_uid}</Link>
            </dd>
            <dt>Priority</dt>
            <dd>{j.priority}</dd>
            <dt>Machine</dt>
            <dd>{j.machine_id ?? "—"}</dd>
            <dt>Estimate</dt>
            <dd>{fmtSeconds(j.estimate_seconds)}</dd>
            <dt>Actual</dt>
            <dd>{fmtSeconds(j.actual_seconds)}</dd>
            <dt>Attempt</dt>
            <dd>{j.attempt}</dd>
            <dt>Laser</dt>
            <dd>
              {j.laser_settings.power}% · {j.laser_settings.speed} mm/min · {j.laser_settings.passes} pass(es)
            </dd>
            {j.error_text && (
              <>
                <dt>Error</dt>
                <dd className="warn">{j.error_text}</dd>
              </>
            )}
            {j.resolution && (
              <>
                <dt>Decision</dt>
                <dd>
                  {j.resolution} {j.resolution_note}
                </dd>
              </>
            )}
          </dl>
          <div className="actions">
            {can("cancel-engraving-job") && (j.status === "queued" || j.status === "running") && (
              <button type="button" onClick={() => post("cancel")}>
                Cancel
              </button>
            )}
            {can("retry-engraving-job") && (j.status === "failed" || j.status === "cancelled") && (
              <button type="button" onClick={() => post("retry")}>
                Retry
              </button>
            )}
          </div>
          {j.status === "interrupted" && can("resolve-engraving-job") && (
            <div className="notice">
              <p>The job stopped part-way: look at the part and decide.</p>
              <div className="actions">
                <button type="button" onClick={() => post("resolve", { action: "reengrave", note: "decided in the UI" })}>
                  Engrave again
                </button>
                <button type="button" onClick={() => post("resolve", { action: "confirm_engraved", note: "decided in the UI" })}>
                  The code is complete
                </button>
              </div>
            </div>
          )}
          <ErrorBox error={err} />
        </div>
        <div className="card">
          <h2>G-code preview</h2>
          <AuthImage path={`/engraving/jobs/${id}/preview.png`} alt={`Toolpath preview of the job for ${j.item_uid}`} className="preview-img" />
        </div>
      </div>
    </Page>
  );
}
