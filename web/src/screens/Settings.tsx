import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { Schemas } from "../api/client";
import { useApi, useSession } from "../session";
import { Empty, ErrorBox, Field, fmtTime, Loading, Page, Select, useProblem } from "../ui";

const roles = ["viewer", "operator", "supervisor", "admin"];

export function Settings() {
  const { can, me } = useSession();
  return (
    <Page title="Settings">
      <div className="card">
        <h2>You</h2>
        <p>
          {me?.name} · role <strong>{me?.role}</strong>
          {me?.lines?.length ? ` · lines ${me.lines.join(", ")}` : ""}
        </p>
        <OwnPassword />
      </div>
      {can("list-users") && <Users />}
      {can("list-api-keys") && <ApiKeys />}
      {can("list-thresholds") && <Thresholds />}
      {can("list-machines") && <Machines />}
    </Page>
  );
}

function OwnPassword() {
  const api = useApi();
  const [cur, setCur] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const problem = useProblem();
  return (
    <details>
      <summary>Change your password</summary>
      <form
        className="form"
        onSubmit={async (e) => {
          e.preventDefault();
          problem.set(null);
          setDone(false);
          try {
            await api.post("/auth/me/password", { current_password: cur, new_password: next });
            setCur("");
            setNext("");
            setDone(true);
          } catch (err) {
            problem.set(err);
          }
        }}
      >
        <Field label="Current password" type="password" autoComplete="current-password" value={cur} onChange={(e) => setCur(e.target.value)} error={problem.fields.current_password} />
        <Field label="New password" type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} error={problem.fields.new_password} />
        <ErrorBox error={problem.general} />
        {done && <p role="status">Password changed.</p>}
        <button type="submit">Change password</button>
      </form>
    </details>
  );
}

function Users() {
  const api = useApi();
  const qc = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: () => api.get<Schemas["UsersOutputBody"]>("/auth/users") });
  const [f, setF] = useState({ username: "", password: "", role: "operator", lines: "" });
  const problem = useProblem();
  const [rowErr, setRowErr] = useState<unknown>(null);
  const create = useMutation({
    mutationFn: () => api.post("/auth/users", { username: f.username.trim(), password: f.password, role: f.role, lines: f.lines.split(/[\s,]+/).filter(Boolean) }),
    onSuccess: () => {
      setF({ username: "", password: "", role: "operator", lines: "" });
      problem.set(null);
      qc.invalidateQueries({ queryKey: ["users"] });
    },
    onError: problem.set,
  });
  const update = async (id: string, body: unknown) => {
    setRowErr(null);
    try {
      await api.call("PATCH", `/auth/users/${id}`, { body });
      qc.invalidateQueries({ queryKey: ["users"] });
    } catch (e) {
      setRowErr(e);
    }
  };
  return (
    <section className="card" aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      {users.isLoading && <Loading />}
      <ErrorBox error={users.error ?? rowErr} />
      {users.data &&
        ((users.data.users ?? []).length ? (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Role</th>
                  <th scope="col">Lines</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {(users.data.users ?? []).map((u) => (
                  <tr key={u.id}>
                    <td>{u.username}</td>
                    <td>
                      <select aria-label={`Role of ${u.username}`} value={u.role} onChange={(e) => update(u.id, { role: e.target.value })}>
                        {roles.map((r) => (
                          <option key={r}>{r}</option>
                        ))}
                      </select>
                    </td>
                    <td>{u.lines?.join(", ") || "all"}</td>
                    <td>
                      <button type="button" className="link" onClick={() => update(u.id, { disabled: !u.disabled })}>
                        {u.disabled ? "Disabled: enable" : "Active: disable"}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No users.</Empty>
        ))}
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <h3>New user</h3>
        <div className="row">
          <Field label="Username" required value={f.username} onChange={(e) => setF({ ...f, username: e.target.value })} error={problem.fields.username} />
          <Field label="Password" type="password" autoComplete="new-password" required value={f.password} onChange={(e) => setF({ ...f, password: e.target.value })} error={problem.fields.password} />
          <Select label="Role" value={f.role} onChange={(e) => setF({ ...f, role: e.target.value })} options={roles} error={problem.fields.role} />
          <Field label="Lines (empty: all)" value={f.lines} onChange={(e) => setF({ ...f, lines: e.target.value })} error={problem.fields.lines} />
        </div>
        <ErrorBox error={problem.general} />
        <button type="submit" disabled={create.isPending}>
          Create user
        </button>
      </form>
    </section>
  );
}

function ApiKeys() {
  const api = useApi();
  const qc = useQueryClient();
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => api.get<Schemas["ApiKeysOutputBody"]>("/auth/api-keys") });
  const [f, setF] = useState({ name: "", role: "operator", scopes: "*" });
  const [secret, setSecret] = useState<string | null>(null);
  const problem = useProblem();
  const [rowErr, setRowErr] = useState<unknown>(null);
  return (
    <section className="card" aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      {keys.isLoading && <Loading />}
      <ErrorBox error={keys.error ?? rowErr} />
      {keys.data &&
        ((keys.data.api_keys ?? []).length ? (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key</th>
                  <th scope="col">Role</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span className="sr-only">Revoke</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {(keys.data.api_keys ?? []).map((k) => (
                  <tr key={k.id}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.prefix}…</code>
                    </td>
                    <td>{k.role}</td>
                    <td>{fmtTime(k.last_used_at)}</td>
                    <td>
                      {k.revoked_at ? (
                        `revoked ${fmtTime(k.revoked_at)}`
                      ) : (
                        <button
                          type="button"
                          className="link"
                          onClick={async () => {
                            setRowErr(null);
                            try {
                              await api.call("DELETE", `/auth/api-keys/${k.id}`);
                              qc.invalidateQueries({ queryKey: ["api-keys"] });
                            } catch (e) {
                              setRowErr(e);
                            }
                          }}
                        >
                          Revoke {k.name}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No API keys.</Empty>
        ))}
      {secret && (
        <div className="notice" role="alert">
          <p>Copy the key now: it is not shown again.</p>
          <code className="secret">{secret}</code>
          <div className="actions">
            <button type="button" onClick={() => void navigator.clipboard?.writeText(secret)}>
              Copy
            </button>
            <button type="button" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <form
        className="form"
        onSubmit={async (e) => {
          e.preventDefault();
          problem.set(null);
          try {
            const r = await api.post<Schemas["CreatedAPIKeyOutputBody"]>("/auth/api-keys", { name: f.name.trim(), role: f.role, scopes: f.scopes.split(/[\s,]+/).filter(Boolean) });
            setSecret(r.key);
            setF({ name: "", role: "operator", scopes: "*" });
            qc.invalidateQueries({ queryKey: ["api-keys"] });
          } catch (err) {
            problem.set(err);
          }
        }}
      >
        <h3>New API key</h3>
        <div className="row">
          <Field label="Name" required value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} error={problem.fields.name} />
          <Select label="Role" value={f.role} onChange={(e) => setF({ ...f, role: e.target.value })} options={roles} error={problem.fields.role} />
          <Field label="Scopes" value={f.scopes} onChange={(e) => setF({ ...f, scopes: e.target.value })} error={problem.fields.scopes} hint="operations or prefixes like inventory.*; * for all the role may do" />
        </div>
        <ErrorBox error={problem.general} />
        <button type="submit">Create key</button>
      </form>
    </section>
  );
}

function Thresholds() {
  const api = useApi();
  const { can } = useSession();
  const qc = useQueryClient();
  const list = useQuery({ queryKey: ["thresholds"], queryFn: () => api.get<Schemas["ThresholdsOutputBody"]>("/inventory/thresholds") });
  const [f, setF] = useState({ component_type: "", vendor_code: "", min_available: "10" });
  const problem = useProblem();
  return (
    <section className="card" aria-labelledby="thr-h">
      <h2 id="thr-h">Low-stock thresholds</h2>
      <ErrorBox error={list.error} />
      {list.data &&
        (list.data.thresholds?.length ? (
          <ul className="plain">
            {list.data.thresholds.map((t) => (
              <li key={t.component_type + (t.vendor_code ?? "")}>
                {t.component_type} {t.vendor_code || "(any vendor)"}: at least {t.min_available}
              </li>
            ))}
          </ul>
        ) : (
          <Empty>No threshold set.</Empty>
        ))}
      {can("set-threshold") && (
        <form
          className="form"
          onSubmit={async (e) => {
            e.preventDefault();
            problem.set(null);
            try {
              await api.call("PUT", `/inventory/thresholds/${encodeURIComponent(f.component_type.trim())}`, {
                body: { vendor_code: f.vendor_code.trim() || undefined, min_available: Number(f.min_available) },
              });
              qc.invalidateQueries({ queryKey: ["thresholds"] });
            } catch (err) {
              problem.set(err);
            }
          }}
        >
          <div className="row">
            <Field label="Type" required value={f.component_type} onChange={(e) => setF({ ...f, component_type: e.target.value })} error={problem.fields.component_type} />
            <Field label="Vendor (optional)" value={f.vendor_code} onChange={(e) => setF({ ...f, vendor_code: e.target.value })} error={problem.fields.vendor_code} />
            <Field label="Minimum available" type="number" value={f.min_available} onChange={(e) => setF({ ...f, min_available: e.target.value })} error={problem.fields.min_available} />
          </div>
          <ErrorBox error={problem.general} />
          <button type="submit">Set threshold</button>
        </form>
      )}
    </section>
  );
}

/** The body of POST /engraving/machines: an empty work area is left for the controller to report at connect. */
export function machineRequest(f: { name: string; address: string; width: string; height: string; has_z: boolean }) {
  const mm = (s: string) => (s.trim() === "" ? 0 : Number(s));
  const body: { name: string; address: string; has_z: boolean; work_area?: { width_mm: number; height_mm: number } } = {
    name: f.name.trim(),
    address: f.address.trim(),
    has_z: f.has_z,
  };
  if (f.width.trim() || f.height.trim()) body.work_area = { width_mm: mm(f.width), height_mm: mm(f.height) };
  return body;
}

const emptyMachine = { name: "", address: "", width: "", height: "", has_z: false };

function Machines() {
  const api = useApi();
  const { can } = useSession();
  const qc = useQueryClient();
  const list = useQuery({ queryKey: ["machines"], queryFn: () => api.get<Schemas["MachinesOutputBody"]>("/engraving/machines") });
  const [f, setF] = useState(emptyMachine);
  const [added, setAdded] = useState("");
  const problem = useProblem();
  const fe = problem.fields;
  const register = useMutation({
    mutationFn: () => api.post<Schemas["MachineStatus"]>("/engraving/machines", machineRequest(f)),
    onMutate: () => {
      problem.set(null);
      setAdded("");
    },
    onSuccess: (m) => {
      setF(emptyMachine);
      setAdded(m.name);
      qc.invalidateQueries({ queryKey: ["machines"] });
    },
    onError: problem.set,
  });
  const machines = list.data?.machines ?? [];
  return (
    <section className="card" aria-labelledby="machines-h">
      <h2 id="machines-h">Laser machines</h2>
      {list.isLoading && <Loading />}
      <ErrorBox error={list.error} retry={list.refetch} />
      {list.data &&
        (machines.length ? (
          <div className="table-wrap">
            <table aria-labelledby="machines-h">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Address</th>
                  <th scope="col">Work area</th>
                  <th scope="col">Z axis</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {machines.map((m) => (
                  <tr key={m.id}>
                    <td>{m.name}</td>
                    <td>
                      <code>{m.address}</code>
                    </td>
                    <td>{m.work_area.width_mm ? `${m.work_area.width_mm} × ${m.work_area.height_mm} mm` : "from the controller"}</td>
                    <td>{m.has_z ? "yes" : "no"}</td>
                    <td>{m.state}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty>No machine registered yet.</Empty>
        ))}
      {can("register-machine") && (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            register.mutate();
          }}
        >
          <h3>Register a machine</h3>
          <div className="row">
            <Field label="Machine name" required value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} placeholder="laser-2" error={fe.name} />
            <Field
              label="Address"
              required
              value={f.address}
              onChange={(e) => setF({ ...f, address: e.target.value })}
              placeholder="tcp://192.168.1.40:23"
              hint="tcp://host:port or serial:///dev/ttyUSB0?baud=115200"
              error={fe.address}
            />
          </div>
          <div className="row">
            <Field label="Work area width (mm, optional)" type="number" min={0} step="any" value={f.width} onChange={(e) => setF({ ...f, width: e.target.value })} error={fe["work_area.width_mm"] ?? fe.work_area} />
            <Field label="Work area height (mm, optional)" type="number" min={0} step="any" value={f.height} onChange={(e) => setF({ ...f, height: e.target.value })} error={fe["work_area.height_mm"]} />
            <label className="check">
              <input type="checkbox" checked={f.has_z} onChange={(e) => setF({ ...f, has_z: e.target.checked })} /> Has a Z axis
            </label>
          </div>
          <ErrorBox error={problem.general} />
          {added && <p role="status">Machine {added} registered.</p>}
          <button type="submit" disabled={register.isPending}>
            Register machine
          </button>
        </form>
      )}
    </section>
  );
}
