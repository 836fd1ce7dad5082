// The reference console's script (see index.html). Vanilla JavaScript, no dependencies.
// State that must survive the OAuth round trip to Heroku (the page is left and loaded
// again) lives in sessionStorage: the token and who it was minted for.
"use strict";

(function () {
  const POLL_MS = 2000;
  const store = window.sessionStorage;
  const $ = (id) => document.getElementById(id);

  let session = JSON.parse(store.getItem("console.session") || "null");
  let lastStatus = null; // the previous GET …/integrations/heroku answer
  let pollTimer = null;
  let databasesLoaded = false;

  // ---- messages: one polite live region, so screen readers hear results and errors.

  function say(text, isError) {
    const box = $("messages");
    box.textContent = "";
    const p = document.createElement("p");
    p.style.margin = "0";
    if (isError) p.className = "error";
    p.textContent = text;
    p.dataset.kind = isError ? "error" : "info";
    box.appendChild(p);
  }

  // The API's errors are {"error", "message"}; API Gateway's own (unknown route, bad
  // token) are {"message"} only. Show whichever is there, with the status.
  function describeError(status, body) {
    if (body && typeof body === "object") {
      if (body.error && body.message) return `${body.message} (${status} ${body.error})`;
      if (body.message) return `${body.message} (${status})`;
    }
    if (typeof body === "string" && body.trim()) return `${body.trim()} (${status})`;
    return `HTTP ${status}`;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(describeError(status, body));
      this.status = status;
      this.body = body;
    }
  }

  // ---- the API

  function projectPath(rest) {
    return `/projects/${encodeURIComponent(session.project)}${rest}`;
  }

  async function api(method, path, body) {
    if (!session) throw new Error("Sign in first.");
    const init = { method, headers: { Authorization: `Bearer ${session.token}` } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new Error(`the API did not answer (${e.message})`);
    }
    const text = await resp.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      json = text;
    }
    if (!resp.ok) throw new ApiError(resp.status, json);
    return { status: resp.status, body: json };
  }

  // ---- sign in

  function showSession() {
    const signedIn = $("signed-in");
    if (session) {
      signedIn.textContent =
        `Signed in as ${session.sub} on project ${session.project} (role ${session.role}).`;
      signedIn.dataset.project = session.project;
      $("sub").value = session.sub;
      $("project").value = session.project;
      $("role").value = session.role;
    } else {
      signedIn.textContent = "Not signed in.";
      delete signedIn.dataset.project;
    }
    $("connect").disabled = !session;
    $("reload-databases").disabled = !session;
  }

  async function signIn(event) {
    event.preventDefault();
    const sub = $("sub").value.trim();
    const project = $("project").value.trim();
    const role = $("role").value.trim() || "owner";
    const q = new URLSearchParams({ sub, project_id: project, role });
    try {
      const resp = await fetch(`/_dev/token?${q}`);
      if (!resp.ok) throw new Error(`the dev token endpoint answered ${resp.status}`);
      const token = (await resp.text()).trim();
      session = { sub, project, role, token };
      store.setItem("console.session", JSON.stringify(session));
    } catch (e) {
      say(`Sign-in failed: ${e.message}`, true);
      return;
    }
    lastStatus = null;
    databasesLoaded = false;
    clearDatabases("Connect Heroku to list databases");
    showSession();
    say(`Signed in as ${sub} on project ${project}.`);
    const pending = JSON.parse(store.getItem("console.pendingConfirmation") || "null");
    store.removeItem("console.pendingConfirmation");
    if (pending && pending.project === project) await confirm(pending.confirmation);
    await refresh();
    schedulePoll();
  }

  // ---- Heroku connection

  async function connect() {
    try {
      const { body } = await api("POST", projectPath("/integrations/heroku/authorize"));
      say("Sending you to Heroku to approve access…");
      window.location.assign(body.authorize_url);
    } catch (e) {
      say(`Connect failed: ${e.message}`, true);
    }
  }

  // The contract's confirm step: the callback hands back a single-use confirmation that
  // only the user who started the connect may redeem.
  async function confirm(confirmation) {
    try {
      await api("POST", projectPath("/integrations/heroku/confirm"), { confirmation });
      say("Heroku connection confirmed.");
    } catch (e) {
      say(`Confirming the connection failed: ${e.message}`, true);
    }
  }

  // What the callback put in our URL; removed afterwards so a reload does not repeat it.
  async function handleReturn() {
    const q = new URLSearchParams(window.location.search);
    const outcome = q.get("heroku");
    if (!outcome) return;
    const project = q.get("project_id");
    window.history.replaceState(null, "", window.location.pathname);
    if (!session) {
      if (project) $("project").value = project;
      if (outcome === "confirm") {
        // Redeemed right after sign-in: the confirmation is single-use and short-lived.
        store.setItem("console.pendingConfirmation",
          JSON.stringify({ project, confirmation: q.get("confirmation") || "" }));
      }
      say(`Back from Heroku (${outcome}); sign in to continue.`, outcome === "error");
      return;
    }
    if (project && project !== session.project) {
      say(`Back from Heroku for project ${project}, but you are signed in on ${session.project}.`, true);
      return;
    }
    if (outcome === "confirm") {
      await confirm(q.get("confirmation") || "");
    } else if (outcome === "error") {
      say(`Heroku connection failed: ${q.get("reason") || "unknown reason"}.`, true);
    } else {
      say(`Back from Heroku with an unknown outcome: ${outcome}.`, true);
    }
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    // RFC 3339 from the API, shown in UTC to the second: the same in every browser.
    return iso.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC");
  }

  function timeEl(iso) {
    if (!iso) return document.createTextNode("—");
    const t = document.createElement("time");
    t.dateTime = iso;
    t.textContent = fmtTime(iso);
    return t;
  }

  function showConnection(view) {
    const status = $("connection-status");
    status.textContent = view.status.replace(/_/g, " ");
    status.dataset.status = view.status;
    status.className = `status status-${view.status}`;
    $("connection-account").textContent =
      (view.heroku && (view.heroku.email || view.heroku.user_id)) || "—";
    $("connection-since").replaceChildren(timeEl(view.connected_at));
    let error = view.last_error || "—";
    if (view.pending_cleanup && view.pending_cleanup.length) {
      error += ` (${view.pending_cleanup.length} clean-up task(s) at Heroku pending)`;
    }
    $("connection-error").textContent = error;
    $("connect").textContent = view.status === "connected" ? "Reconnect Heroku" : "Connect Heroku";
  }

  // ---- databases

  function clearDatabases(placeholder) {
    const select = $("database");
    const opt = document.createElement("option");
    opt.value = "";
    opt.textContent = placeholder;
    select.replaceChildren(opt);
    select.disabled = true;
    $("link").disabled = true;
  }

  async function loadDatabases() {
    let body;
    try {
      ({ body } = await api("GET", projectPath("/integrations/heroku/databases")));
    } catch (e) {
      clearDatabases("Could not list databases");
      say(`Listing databases failed: ${e.message}`, true);
      return;
    }
    databasesLoaded = true;
    const select = $("database");
    const options = [];
    for (const db of body.databases || []) {
      for (const configVar of db.config_vars || []) {
        const opt = document.createElement("option");
        opt.value = JSON.stringify({ app: db.app.name || db.app.id, config_var: configVar });
        opt.dataset.app = db.app.name || db.app.id;
        opt.dataset.configVar = configVar;
        const plan = db.addon.plan ? `, ${db.addon.plan}` : "";
        const attached = db.attached ? ", attached" : "";
        opt.textContent = `${db.app.name} — ${configVar} (${db.addon.name}${plan}${attached})`;
        options.push(opt);
      }
    }
    if (!options.length) {
      clearDatabases("No Heroku Postgres database found");
      select.dataset.count = "0";
      return;
    }
    const keep = select.value;
    select.replaceChildren(...options);
    if (options.some((o) => o.value === keep)) select.value = keep;
    select.dataset.count = String(options.length);
    select.disabled = false;
    $("link").disabled = false;
  }

  async function link(event) {
    event.preventDefault();
    const choice = $("database").value;
    const name = $("env-var").value.trim();
    if (!choice) return say("Pick a database first.", true);
    if (!name) return say("Type an env var name first.", true);
    const target = JSON.parse(choice);
    try {
      const { status } = await api(
        "PUT",
        projectPath(`/env-vars/${encodeURIComponent(name)}/heroku-sync`),
        target,
      );
      const how = status === 201 ? "linked" : "already linked (re-enabled or unchanged)";
      say(`${name} ${how}: it follows ${target.config_var} of ${target.app}.`);
    } catch (e) {
      say(`Linking ${name} failed: ${e.message}`, true);
    }
    await refresh();
  }

  // ---- synced env vars

  async function resync(name) {
    try {
      const { body } = await api(
        "POST",
        projectPath(`/env-vars/${encodeURIComponent(name)}/heroku-sync/resync`),
      );
      const v = body && body.last_release_version;
      say(`${name} resynced${v ? ` at release v${v}` : ""}.`);
    } catch (e) {
      say(`Resync of ${name} failed: ${e.message}`, true);
    }
    await refresh();
  }

  async function optOut(name) {
    try {
      await api("DELETE", projectPath(`/env-vars/${encodeURIComponent(name)}/heroku-sync`));
      say(`Opted out of ${name}: the sync stopped; the env var keeps its last value.`);
    } catch (e) {
      say(`Opting out of ${name} failed: ${e.message}`, true);
    }
    await refresh();
  }

  function cell(row, field) {
    return row.querySelector(`[data-field="${field}"]`);
  }

  // One row per env var, built once and then updated in place, so a refresh every two
  // seconds keeps keyboard focus on its button and an opened history open.
  function buildRow(name) {
    const tr = document.createElement("tr");
    tr.dataset.envVar = name;
    const head = document.createElement("th");
    head.scope = "row";
    head.dataset.field = "env_var";
    head.textContent = name;
    tr.appendChild(head);
    for (const field of ["app", "config_var", "status", "last_release_version",
      "last_synced_at", "last_error"]) {
      const td = document.createElement("td");
      td.dataset.field = field;
      tr.appendChild(td);
    }
    const hist = document.createElement("td");
    hist.dataset.field = "history";
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    details.append(summary, document.createElement("ol"));
    hist.appendChild(details);
    tr.appendChild(hist);

    const actions = document.createElement("td");
    actions.className = "actions";
    const again = document.createElement("button");
    again.type = "button";
    again.textContent = "Resync now";
    again.dataset.action = "resync";
    again.setAttribute("aria-label", `Resync now: ${name}`);
    again.addEventListener("click", () => resync(name));
    const out = document.createElement("button");
    out.type = "button";
    out.className = "secondary";
    out.textContent = "Opt out";
    out.dataset.action = "opt-out";
    out.setAttribute("aria-label", `Opt out: ${name}`);
    out.addEventListener("click", () => optOut(name));
    actions.append(again, out);
    tr.appendChild(actions);
    return tr;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function historyLine(h) {
    const parts = [fmtTime(h.at), h.kind.replace(/_/g, " ")];
    if (h.release_version != null) parts.push(`v${h.release_version}`);
    let line = parts.join(" · ");
    if (h.detail) line += ` — ${h.detail}`;
    return line;
  }

  function updateRow(tr, l) {
    setText(cell(tr, "app"), l.app.name || l.app.id);
    cell(tr, "app").title = `app id ${l.app.id}`;
    setText(cell(tr, "config_var"), l.config_var);

    const status = cell(tr, "status");
    status.dataset.value = l.status;
    let badge = status.firstElementChild;
    if (!badge) {
      badge = document.createElement("span");
      status.appendChild(badge);
    }
    badge.className = `status status-${l.status}`;
    setText(badge, l.status);

    const version = cell(tr, "last_release_version");
    version.dataset.value = l.last_release_version == null ? "" : String(l.last_release_version);
    setText(version, l.last_release_version == null ? "—" : `v${l.last_release_version}`);

    const synced = cell(tr, "last_synced_at");
    if (synced.dataset.value !== (l.last_synced_at || "")) {
      synced.dataset.value = l.last_synced_at || "";
      synced.replaceChildren(timeEl(l.last_synced_at));
    }
    setText(cell(tr, "last_error"), l.last_error || "—");

    const details = cell(tr, "history").firstElementChild;
    const history = l.history || [];
    setText(details.querySelector("summary"),
      `${history.length} event${history.length === 1 ? "" : "s"}`);
    const lines = history.slice().reverse().map(historyLine); // newest first
    const list = details.querySelector("ol");
    if (list.dataset.lines !== JSON.stringify(lines)) {
      list.dataset.lines = JSON.stringify(lines);
      list.replaceChildren(...lines.map((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        return li;
      }));
    }
  }

  function showLinks(view) {
    const body = $("links-body");
    const links = (view.links || []).slice().sort((a, b) => a.env_var.localeCompare(b.env_var));
    const seen = new Set();
    let previous = null;
    for (const l of links) {
      seen.add(l.env_var);
      let tr = body.querySelector(`tr[data-env-var="${CSS.escape(l.env_var)}"]`);
      if (!tr) tr = buildRow(l.env_var);
      updateRow(tr, l);
      // Keep the sorted order without moving rows that are already in place (moving
      // one would drop its focus).
      const want = previous ? previous.nextElementSibling : body.firstElementChild;
      if (want !== tr) body.insertBefore(tr, want);
      previous = tr;
    }
    for (const tr of [...body.querySelectorAll("tr[data-env-var]")]) {
      if (!seen.has(tr.dataset.envVar)) tr.remove();
    }
    $("links-empty").hidden = links.length > 0;
  }

  // A sync that happens on its own (a rotation at Heroku) is news worth announcing.
  function announceChanges(previous, view) {
    if (!previous) return;
    const before = new Map((previous.links || []).map((l) => [l.env_var, l]));
    for (const l of view.links || []) {
      const old = before.get(l.env_var);
      if (old && old.last_release_version !== l.last_release_version &&
        l.last_release_version != null) {
        say(`${l.env_var} synced to release v${l.last_release_version} of ${l.app.name}.`);
      }
    }
  }

  // ---- refresh loop

  let refreshing = null;
  let pollFailed = false;

  function refresh() {
    // One request in flight at a time: a click and the timer share it.
    if (!refreshing) refreshing = doRefresh().finally(() => { refreshing = null; });
    return refreshing;
  }

  async function doRefresh() {
    if (!session) return;
    let view;
    try {
      ({ body: view } = await api("GET", projectPath("/integrations/heroku")));
    } catch (e) {
      if (!pollFailed) say(`Reading the status failed: ${e.message}`, true);
      pollFailed = true;
      setText($("refreshed"), "the last refresh failed");
      return;
    }
    pollFailed = false;
    showConnection(view);
    announceChanges(lastStatus, view);
    showLinks(view);
    lastStatus = view;
    setText($("refreshed"), `last refreshed ${new Date().toISOString().slice(11, 19)} UTC`);
    if (view.status === "connected" && !databasesLoaded) {
      await loadDatabases();
    } else if (view.status !== "connected" && databasesLoaded) {
      databasesLoaded = false;
      clearDatabases("Connect Heroku to list databases");
    }
  }

  function schedulePoll() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      await refresh();
      schedulePoll();
    }, POLL_MS);
  }

  // ---- start

  $("signin-form").addEventListener("submit", signIn);
  $("connect").addEventListener("click", connect);
  $("link-form").addEventListener("submit", link);
  $("reload-databases").addEventListener("click", loadDatabases);

  (async () => {
    showSession();
    await handleReturn();
    if (session) {
      await refresh();
      schedulePoll();
    }
    document.body.dataset.ready = "true";
  })();
})();
