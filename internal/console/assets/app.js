// dmls console. Every user-supplied string goes into the page through
// textContent (el() below), never as HTML; the token lives in
// sessionStorage and travels as a bearer header, never as a cookie.
//
// People log in with the identity provider of the platform (api.auth.oidc)
// by the authorization code flow with PKCE: the code comes back in the
// URL of /ui/, leaves the address bar at once, and is exchanged at the
// provider's token endpoint (the CSP's connect-src allows its origin and
// no other); the ID token then serves as the bearer token.
"use strict";

const store = window.sessionStorage;
const TOKEN = "dmls.token";
const LOGIN = "dmls.login"; // {verifier, state, nonce} while a login is under way
let me = null;        // {team, actor, admin, user, teams, expires}
let authConfig = null; // GET /v1/auth/config
let expiryTimer = null;
let platform = null;  // {name, argocdUrl, argocdNamespace, environments, teams}
let timer = null;
let stream = null;

// el builds an element: el("td", {class: "x"}, "text", child, ...). Strings
// become text nodes.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") { for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn); continue; }
    e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function $(id) { return document.getElementById(id); }

class APIError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => (e.path ? e.path + ": " : "") + e.message).join("; ") || "HTTP " + status);
    this.status = status; this.errors = errors;
  }
}

async function api(method, path, body, contentType) {
  const headers = { "Authorization": "Bearer " + store.getItem(TOKEN), "Accept": "application/json" };
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const r = await fetch(path, init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401) {
    const why = (data && data.errors && data.errors[0] && data.errors[0].message) || "the token is not valid";
    signOut("Signed out: " + why + ".");
    throw new APIError(401, [{ message: why }]);
  }
  if (!r.ok) throw new APIError(r.status, (data && data.errors) || []);
  return data;
}

const teamPath = () => "/v1/teams/" + encodeURIComponent(me.team);
const short = (sha) => (sha || "").slice(0, 12) || "—";

function stateBadge(state, reason) {
  const s = ["Deploying", "Running", "Succeeded", "Failed", "Serving", "Degraded", "OutOfSync", "Unknown"].includes(state) ? state : "Unknown";
  return el("span", { class: "state s-" + s, title: reason || "", role: "status" }, s);
}

function argoLink(app, env) {
  if (!platform || !platform.argocdUrl) return null;
  const name = app + "-" + env;
  const url = platform.argocdUrl.replace(/\/$/, "") + "/applications/" + encodeURIComponent(platform.argocdNamespace) + "/" + encodeURIComponent(name);
  return el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, "Argo CD");
}

// ---------------------------------------------------------------- sign in

function signOut(note) {
  store.removeItem(TOKEN);
  me = null;
  if (expiryTimer) { clearTimeout(expiryTimer); expiryTimer = null; }
  stop();
  const n = $("signin-note");
  n.textContent = typeof note === "string" ? note : "";
  n.hidden = typeof note !== "string";
  route();
}

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  const a = new Uint8Array(32);
  crypto.getRandomValues(a);
  return b64url(a);
}

const redirectURI = () => location.origin + "/ui/";

async function loadAuthConfig() {
  try {
    const r = await fetch("/v1/auth/config", { credentials: "omit", cache: "no-store", headers: { "Accept": "application/json" } });
    if (r.ok) authConfig = await r.json();
  } catch (e) { authConfig = null; }
  const oidc = !!(authConfig && authConfig.oidc);
  $("oidc-signin").hidden = !oidc;
  $("signin-form").hidden = oidc && !authConfig.tokens;
}

// oidcLogin sends the browser to the identity provider's login page.
async function oidcLogin() {
  const o = authConfig.oidc;
  if (!o.authorizationEndpoint || !o.tokenEndpoint) {
    signOut("The identity provider cannot be reached; try again later.");
    return;
  }
  const verifier = randomString(), state = randomString(), nonce = randomString();
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  store.setItem(LOGIN, JSON.stringify({ verifier, state, nonce }));
  const u = new URL(o.authorizationEndpoint);
  u.search = new URLSearchParams({
    response_type: "code", client_id: o.clientID, redirect_uri: redirectURI(), scope: o.scopes.join(" "),
    state, nonce, code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  location.assign(u.toString());
}

// oidcCallback finishes a login when the provider sent the browser back
// with a code (or an error): it returns true when it stored a token.
async function oidcCallback() {
  const q = new URLSearchParams(location.search);
  if (!q.has("code") && !q.has("error")) return false;
  // The code leaves the address bar and the history at once; the page
  // goes nowhere else than the console (no redirect parameter).
  history.replaceState(null, "", "/ui/");
  const saved = JSON.parse(store.getItem(LOGIN) || "null");
  store.removeItem(LOGIN);
  if (!saved || q.get("state") !== saved.state) throw new Error("This login was not started here (state mismatch): log in again.");
  if (q.has("error")) throw new Error("The identity provider refused the login: " + q.get("error"));
  const o = authConfig && authConfig.oidc;
  if (!o || !o.tokenEndpoint) throw new Error("The identity provider cannot be reached; try again later.");
  if (q.has("iss") && q.get("iss") !== o.issuer) throw new Error("The answer came from another identity provider: log in again.");
  const body = new URLSearchParams({
    grant_type: "authorization_code", code: q.get("code"), redirect_uri: redirectURI(), client_id: o.clientID, code_verifier: saved.verifier,
  });
  const r = await fetch(o.tokenEndpoint, { method: "POST", body, credentials: "omit", cache: "no-store", headers: { "Accept": "application/json" } });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok || !data || typeof data.id_token !== "string") throw new Error("The identity provider gave no token: " + ((data && data.error) || "HTTP " + r.status) + ". Log in again.");
  // The server verifies the signature; the nonce ties the token to this login.
  let claims = null;
  try { claims = JSON.parse(atob(data.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch (e) { claims = null; }
  if (!claims || claims.nonce !== saved.nonce) throw new Error("The token is not for this login (nonce mismatch): log in again.");
  store.setItem(TOKEN, data.id_token);
  return true;
}

// identify reads who the token is and which team the console acts for.
async function identify() {
  me = await api("GET", "/v1/whoami");
  platform = await api("GET", "/v1/platform");
  const teams = Object.keys(platform.teams || {}).sort();
  if (me.user) {
    me.teams = me.admin ? teams : (me.teams || []);
    me.team = me.teams.includes(store.getItem("dmls.team")) ? store.getItem("dmls.team") : (me.teams[0] || "");
    if (expiryTimer) clearTimeout(expiryTimer);
    const left = Date.parse(me.expires) - Date.now();
    if (left > 0) expiryTimer = setTimeout(() => signOut("Your login expired: log in again."), Math.min(left, 2147483647));
  } else if (me.admin) {
    me.teams = teams;
    me.team = teams[0] || "";
  } else {
    me.teams = [me.team];
  }
  const pick = $("team-pick");
  pick.replaceChildren(...me.teams.map((t) => el("option", { value: t, selected: t === me.team }, t)));
  pick.hidden = $("team-pick-label").hidden = me.teams.length < 2;
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $("token");
  $("token-error").textContent = "";
  input.classList.remove("invalid");
  store.setItem(TOKEN, input.value.trim());
  try {
    await identify();
    input.value = "";
    location.hash = "#/";
    route();
  } catch (e) {
    store.removeItem(TOKEN);
    input.classList.add("invalid");
    $("token-error").textContent = e.message;
    input.focus();
  }
}

// ---------------------------------------------------------------- views

function stop() {
  if (timer) { clearInterval(timer); timer = null; }
  if (stream) { stream.abort(); stream = null; }
}

async function route() {
  stop();
  const signedIn = !!store.getItem(TOKEN);
  $("signin").hidden = signedIn;
  $("signout").hidden = !signedIn;
  const view = $("view");
  view.replaceChildren();
  if (!signedIn) {
    $("who").textContent = "";
    $("team-pick").hidden = $("team-pick-label").hidden = true;
    if (!$("signin-form").hidden) $("token").focus();
    return;
  }
  try {
    if (!me) await identify();
  } catch (e) { view.append(el("p", { class: "notice error" }, e.message)); return; }
  if (me.user && me.teams.length === 0) {
    $("who").textContent = me.user;
    view.append(el("p", { class: "notice error", id: "no-team" }, "You are logged in as " + me.user + ", but in no team: none of your groups (" +
      ((me.groups || []).join(", ") || "none") + ") is the group of a team of the platform. Ask the platform team to add you."));
    return;
  }
  $("who").textContent = "team " + me.team + (me.actor ? " · " + me.actor : "");
  const hash = location.hash.replace(/^#/, "");
  const m = hash.match(/^\/app\/(.+)$/);
  if (m) return appView(decodeURIComponent(m[1]));
  if (hash === "/submit") return submitView();
  return appsView();
}

async function listApps() {
  const [jobs, svcs] = await Promise.all([api("GET", teamPath() + "/trainingjobs"), api("GET", teamPath() + "/modelservices")]);
  const apps = new Map();
  for (const j of jobs.items) apps.set(j.app, { name: j.app, training: j, serving: null });
  for (const s of svcs.items) {
    const a = apps.get(s.app) || { name: s.app, training: null, serving: null };
    a.serving = s; apps.set(s.app, a);
  }
  return [...apps.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function statusPath(a) {
  return teamPath() + (a.training ? "/trainingjobs/" : "/modelservices/") + encodeURIComponent(a.name) + "/status";
}

async function appsView() {
  const view = $("view");
  const envs = platform.environments || [];
  const tbody = el("tbody");
  view.append(
    el("div", { class: "row" }, el("h1", {}, "Apps of team " + me.team), el("a", { href: "#/submit", class: "button" }, "Submit a job or model service")),
    el("table", { class: "apps" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "App"), envs.map((e) => el("th", { scope: "col" }, e)))),
      tbody),
  );
  const refresh = async () => {
    let apps;
    try { apps = await listApps(); } catch (e) { tbody.replaceChildren(el("tr", {}, el("td", {}, e.message))); return; }
    const rows = [];
    for (const a of apps) {
      let st = null;
      try { st = await api("GET", statusPath(a)); } catch (e) { st = null; }
      const byEnv = new Map(((st && st.environments) || []).map((e) => [e.env, e]));
      rows.push(el("tr", { "data-app": a.name },
        el("td", {}, el("a", { href: "#/app/" + encodeURIComponent(a.name) }, a.name),
          el("div", { class: "muted" }, [a.training ? "trains" : "", a.serving ? "serves" : ""].filter(Boolean).join(" · "))),
        envs.map((env) => {
          const e = byEnv.get(env);
          if (!e) return el("td", { class: "muted" }, el("span", { class: "hide-narrow" }, "—"));
          return el("td", { "data-env": env },
            el("span", { class: "muted", "aria-hidden": "true" }, env + " "), stateBadge(e.state, e.reason),
            el("div", { class: "mono", title: e.commit || "" }, short(e.commit)),
            el("div", { class: "muted" }, e.reason || ""),
            argoLink(a.name, env));
        })));
    }
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: envs.length + 1 }, "No apps yet.")));
    tbody.replaceChildren(...rows);
  };
  await refresh();
  timer = setInterval(refresh, 5000);
}

// toYAML writes a JSON value as YAML, for reading.
function toYAML(v, indent) {
  indent = indent || "";
  const scalar = (x) => {
    if (x === null) return "null";
    if (typeof x === "string") return /^[\w./:@-][\w ./:@=-]*$/.test(x) && !/^(true|false|null|[0-9.+-].*)$/.test(x) ? x : JSON.stringify(x);
    return String(x);
  };
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return v.map((x) => "\n" + indent + "- " + (typeof x === "object" && x !== null ? toYAML(x, indent + "  ").replace(/^\n\s*/, "") : scalar(x))).join("");
  }
  if (typeof v === "object" && v !== null) {
    const keys = Object.keys(v).sort();
    if (keys.length === 0) return "{}";
    return keys.map((k) => {
      const x = v[k];
      const key = /^[\w.-]+$/.test(k) ? k : JSON.stringify(k);
      return "\n" + indent + key + ":" + (typeof x === "object" && x !== null && (Array.isArray(x) ? x.length : Object.keys(x).length) ? toYAML(x, indent + "  ") : " " + (typeof x === "object" && x !== null ? (Array.isArray(x) ? "[]" : "{}") : scalar(x)));
    }).join("");
  }
  return scalar(v);
}

function trafficBar(targets) {
  const total = targets.reduce((n, t) => n + (t.percent || 0), 0) || 100;
  return el("div", { class: "traffic", role: "img", "aria-label": targets.map((t) => (t.revision || "latest") + " " + t.percent + "%").join(", ") },
    targets.filter((t) => t.percent > 0).map((t) => el("span", { style: null, "data-percent": t.percent, title: (t.revision || "latest") + " " + t.percent + "%" }, (t.tag ? t.tag + " " : "") + t.percent + "%")));
}

// Style attributes are blocked by the CSP for inline styles set from
// markup, so widths are set through the CSSOM, which the CSP allows.
function sizeBars(root) {
  for (const s of root.querySelectorAll(".traffic span")) s.style.width = s.getAttribute("data-percent") + "%";
}

function fieldErrors(form, errors) {
  for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
  for (const i of form.querySelectorAll(".invalid")) i.classList.remove("invalid");
  const rest = [];
  for (const e of errors) {
    const input = [...form.querySelectorAll("[data-path]")].find((i) => e.path && (e.path === i.dataset.path || e.path.endsWith("." + i.dataset.path) || i.dataset.path.endsWith(e.path)));
    if (input) {
      input.classList.add("invalid");
      input.setAttribute("aria-invalid", "true");
      const p = form.querySelector("#" + input.id + "-error");
      p.textContent = (p.textContent ? p.textContent + "; " : "") + e.message;
    } else rest.push(e);
  }
  const general = form.querySelector(".form-error");
  general.textContent = rest.map((e) => (e.path ? e.path + ": " : "") + e.message).join("\n");
  const first = form.querySelector(".invalid");
  if (first) first.focus();
}

// withDryRun adds ?dryRun=true to a path: the server checks the change
// and answers with its preview, committing nothing.
const withDryRun = (path) => path + (path.includes("?") ? "&" : "?") + "dryRun=true";

// previewLines shows what a dry run says the change does to the config:
// the semantic summary of dmls diff (what changes, per environment, in
// words), its risks, and the warnings validate prints for the app (a
// secret-looking literal, say), before the user confirms.
function previewLines(res) {
  const p = (res && res.preview) || { summary: [], risks: [] };
  const line = (l) => el("li", {}, l.where ? [el("strong", {}, l.where), ": "] : "", l.what);
  $("confirm-summary").replaceChildren(...(p.summary.length ? p.summary.map(line) : [el("li", { class: "muted" }, res && !res.changed ? "Nothing changes: the app already is so." : "No change to the deployed objects.")]));
  $("confirm-risks").replaceChildren(...p.risks.map(line));
  $("confirm-risks-title").hidden = p.risks.length === 0;
  const warnings = (res && res.warnings) || [];
  $("confirm-warnings").replaceChildren(...warnings.map((w) => el("li", {}, w)));
  $("confirm-warnings-title").hidden = warnings.length === 0;
}

function confirmChange(text, preview) {
  return new Promise((resolve) => {
    const d = $("confirm");
    $("confirm-text").textContent = text;
    previewLines(preview);
    d.returnValue = "";
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.showModal();
    $("confirm-ok").focus();
  });
}

// action previews the change (a dry run: its field errors show at once),
// confirms it with the preview's summary, calls the API, and shows the
// outcome or the field errors.
async function action(form, what, method, path, body) {
  const out = form.querySelector(".outcome");
  out.className = "outcome";
  out.textContent = "";
  let preview;
  try {
    preview = await api(method, withDryRun(path), body);
    fieldErrors(form, []);
  } catch (e) {
    fieldErrors(form, e.errors || [{ message: e.message }]);
    out.className = "outcome notice error";
    out.textContent = "Not applied.";
    return;
  }
  if (!(await confirmChange(what, preview))) return;
  try {
    const r = await api(method, path, body);
    fieldErrors(form, []);
    out.className = "outcome notice";
    out.textContent = (r.changed ? "Committed " : "Nothing to change. ") + (r.commits || []).map((c) => c.repo + " " + short(c.sha)).join(", ");
  } catch (e) {
    fieldErrors(form, e.errors || [{ message: e.message }]);
    out.className = "outcome notice error";
    out.textContent = "Not applied.";
  }
}

function field(id, label, attrs) {
  return [el("label", { for: id }, label), el("input", Object.assign({ id }, attrs)), el("p", { class: "field-error", id: id + "-error", role: "alert" })];
}

async function appView(name) {
  const view = $("view");
  view.append(el("p", {}, el("a", { href: "#/" }, "← All apps")), el("h1", {}, name));
  let a;
  try {
    a = (await listApps()).find((x) => x.name === name);
  } catch (e) { view.append(el("p", { class: "notice error" }, e.message)); return; }
  if (!a) { view.append(el("p", { class: "notice error" }, "Team " + me.team + " has no app " + name + ".")); return; }
  const live = el("div", { "aria-live": "polite" });
  view.append(el("h2", {}, "Live status"), live);
  const render = (st) => {
    const cards = (st.environments || []).map((e) => {
      const card = el("div", { class: "panel", "data-env": e.env },
        el("div", { class: "row" }, el("strong", {}, e.env), stateBadge(e.state, e.reason), argoLink(name, e.env)),
        el("p", { class: "muted" }, e.reason || ""),
        el("p", {}, "Commit ", el("code", { title: e.commit || "" }, short(e.commit)),
          e.application && e.application.found ? [" · Argo CD ", e.application.sync || "?", " at ", el("code", {}, short(e.application.revision)), " · ", e.application.health || "?"] : ""));
      if (e.training) {
        const t = e.training;
        card.append(el("h3", {}, "Training run " + t.run + " (" + (t.kind ? t.kind + " " : "") + t.name + ")"), stateBadge(t.state),
          el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Condition"), el("th", {}, "Status"), el("th", { class: "hide-narrow" }, "Reason"), el("th", { class: "hide-narrow" }, "Since"))),
            el("tbody", {}, (t.conditions || []).map((c) => el("tr", {}, el("td", {}, c.type), el("td", {}, c.status), el("td", { class: "hide-narrow" }, c.reason || ""), el("td", { class: "hide-narrow" }, c.lastTransitionTime || ""))))),
          el("p", {}, Object.entries(t.replicas || {}).map(([role, r]) => role + ": " + r.active + " active, " + r.succeeded + " succeeded, " + r.failed + " failed").join(" · ") || (t.kind === "TrainJob" ? "" : "No replicas yet.")));
        if (t.workload) {
          // Where the job is in its Kueue queue.
          const w = t.workload;
          let what = "Kueue: " + w.state;
          if (w.position !== undefined && w.position !== null) what += " at position " + w.position + " of its queue";
          if (w.clusterQueue) what += " in " + w.clusterQueue;
          if (w.flavors && w.flavors.length) what += " on " + w.flavors.join(", ");
          if (w.reason) what += " (" + w.reason + (w.message ? ": " + w.message : "") + ")";
          card.append(el("p", { class: "kueue" }, what));
        }
      }
      if (e.serving) {
        const s = e.serving;
        card.append(el("h3", {}, s.kind + " " + s.name), stateBadge(s.state),
          el("p", {}, s.url ? el("code", {}, s.url) : "No URL yet."),
          el("p", { class: "muted" }, "Latest created " + (s.latestCreatedRevision || "—") + ", latest ready " + (s.latestReadyRevision || "—")));
        if (s.traffic && s.traffic.length) card.append(trafficBar(s.traffic));
      }
      return card;
    });
    live.replaceChildren(el("div", { class: "cards" }, cards));
    sizeBars(live);
  };
  // The status streams as server-sent events, read with fetch so that the
  // token goes in a header (EventSource cannot send one).
  const ctrl = new AbortController();
  stream = ctrl;
  (async () => {
    try {
      const r = await fetch(statusPath(a) + "?watch=true", { headers: { "Authorization": "Bearer " + store.getItem(TOKEN) }, credentials: "omit", signal: ctrl.signal });
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const msg = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = msg.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) render(JSON.parse(data));
        }
      }
    } catch (e) { if (!ctrl.signal.aborted) live.append(el("p", { class: "notice error" }, "Live status stopped: " + e.message)); }
  })();

  await releaseView(name);

  // Actions.
  const envs = platform.environments || [];
  const envSelect = (id, label) => [el("label", { for: id }, label), el("select", { id }, el("option", { value: "" }, "every environment (the app's own settings)"), envs.map((e) => el("option", { value: e }, e)))];
  if (a.training) {
    // A TrainJob scales by its nodes, a TFJob by its workers.
    const trainJob = a.training.kind === "TrainJob";
    const w = trainJob ? (a.training.training.numNodes || "") : ((a.training.training.replicas && a.training.training.replicas.worker && a.training.training.replicas.worker.replicas) || "");
    const f = el("form", { class: "panel", id: "train-form", novalidate: true },
      el("h2", {}, "Change the training job"),
      field("workers", trainJob ? "Nodes" : "Workers", { type: "number", min: trainJob ? "1" : "0", value: w, "data-path": trainJob ? "numNodes" : "replicas.worker.replicas", inputmode: "numeric" }),
      field("image", "Image", { type: "text", value: a.training.training.image || "", "data-path": "image" }),
      field("hp", "Hyperparameters (name=value, one per line)", { type: "text", "data-path": "hyperparameters" }),
      el("p", { class: "field-error form-error", role: "alert" }),
      el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, "Apply"), el("button", { type: "button", id: "retrain" }, "Re-train")),
      el("p", { class: "outcome", role: "status" }));
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const patch = {};
      const n = f.querySelector("#workers").value;
      if (n !== "" && String(n) !== String(w)) {
        if (trainJob) patch.numNodes = Number(n);
        else patch.replicas = { worker: { replicas: Number(n) } };
      }
      const img = f.querySelector("#image").value.trim();
      if (img && img !== a.training.training.image) patch.image = img;
      const hp = f.querySelector("#hp").value.trim();
      if (hp) { patch.hyperparameters = {}; for (const kv of hp.split(/[\n,]/)) { const [k, ...v] = kv.split("="); if (k.trim()) patch.hyperparameters[k.trim()] = v.join("=").trim(); } }
      const desc = Object.keys(patch).length ? "Change " + name + ": " + JSON.stringify(patch) : "Nothing to change.";
      action(f, desc, "PATCH", teamPath() + "/trainingjobs/" + encodeURIComponent(name), patch);
    });
    f.querySelector("#retrain").addEventListener("click", () => action(f, "Start a new training run of " + name + " (run " + (a.training.run + 1) + ").", "POST", teamPath() + "/trainingjobs/" + encodeURIComponent(name) + "/retrain", {}));
    view.append(f);
  }
  if (a.serving) {
    const cur = ((a.serving.serving.traffic || {}).canaryPercent) || 0;
    const f = el("form", { class: "panel", id: "serve-form", novalidate: true },
      el("h2", {}, "Roll out and move traffic"),
      envSelect("serve-env", "Environment"),
      el("label", { for: "canary" }, "Canary share of traffic: ", el("output", { id: "canary-out", for: "canary" }, cur + "%")),
      el("input", { id: "canary", type: "range", min: "0", max: "100", step: "5", value: cur, "data-path": "percent" }),
      el("p", { class: "field-error", id: "canary-error", role: "alert" }),
      el("div", { class: "row" }, el("button", { type: "button", id: "set-canary", class: "primary" }, "Set canary"), el("button", { type: "button", id: "promote-canary" }, "Promote canary"), el("button", { type: "button", id: "rollback" }, "Roll back")),
      field("rollout-image", "New image (roll out as a canary at the share above)", { type: "text", "data-path": "image" }),
      el("div", { class: "row" }, el("button", { type: "button", id: "rollout" }, "Roll out")),
      el("p", { class: "field-error form-error", role: "alert" }),
      el("p", { class: "outcome", role: "status" }));
    const env = () => f.querySelector("#serve-env").value || undefined;
    const envText = () => env() ? " in " + env() : "";
    const canary = f.querySelector("#canary");
    canary.addEventListener("input", () => { f.querySelector("#canary-out").textContent = canary.value + "%"; });
    f.querySelector("#set-canary").addEventListener("click", () => action(f, "Send " + canary.value + "% of " + name + "'s traffic" + envText() + " to the canary revision.", "PUT", teamPath() + "/modelservices/" + encodeURIComponent(name) + "/canary", { env: env(), percent: Number(canary.value) }));
    f.querySelector("#promote-canary").addEventListener("click", () => action(f, "Send all of " + name + "'s traffic" + envText() + " to the canary revision.", "POST", teamPath() + "/modelservices/" + encodeURIComponent(name) + "/canary/promote", { env: env() }));
    f.querySelector("#rollback").addEventListener("click", () => action(f, "Send all of " + name + "'s traffic" + envText() + " back to the previous revision.", "POST", teamPath() + "/modelservices/" + encodeURIComponent(name) + "/rollback", { env: env() }));
    f.querySelector("#rollout").addEventListener("click", () => {
      const img = f.querySelector("#rollout-image").value.trim();
      action(f, "Roll out " + img + " as a new revision of " + name + envText() + " with " + canary.value + "% of the traffic.", "POST", teamPath() + "/modelservices/" + encodeURIComponent(name) + "/rollouts", { env: env(), image: img, canaryPercent: Number(canary.value) });
    });
    view.append(f);
  }
  if (envs.length > 1) {
    const f = el("form", { class: "panel", id: "promote-form", novalidate: true },
      el("h2", {}, "Promote between environments"),
      el("label", { for: "promote-from" }, "From"), el("select", { id: "promote-from", "data-path": "from" }, envs.slice(0, -1).map((e, i) => el("option", { value: e }, e + " → " + envs[i + 1]))),
      el("p", { class: "field-error", id: "promote-from-error", role: "alert" }),
      el("p", { class: "field-error form-error", role: "alert" }),
      el("div", { class: "row" }, el("button", { type: "submit" }, "Promote")),
      el("p", { class: "outcome", role: "status" }));
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const from = f.querySelector("#promote-from").value;
      action(f, "Copy the version " + name + " runs in " + from + " to the next environment.", "POST", teamPath() + "/apps/" + encodeURIComponent(name) + "/promote", { from });
    });
    view.append(f);
  }

  const spec = {};
  if (a.training) spec.training = a.training.training;
  if (a.serving) spec.serving = a.serving.serving;
  view.append(el("h2", {}, "Spec"), el("pre", { id: "spec" }, toYAML(spec).replace(/^\n/, "")));
  const hist = el("ol", { id: "history" });
  view.append(el("h2", {}, "History (ml-model commits that touched the app)"), hist);
  try {
    const h = await api("GET", teamPath() + "/apps/" + encodeURIComponent(name) + "/history");
    hist.replaceChildren(...h.items.map((c) => el("li", {}, el("code", {}, short(c.commit)), " ", el("strong", {}, c.message.split("\n")[0]),
      el("div", { class: "muted" }, c.author + actorsOf(c.message) + " · " + c.time))));
  } catch (e) { hist.replaceChildren(el("li", {}, e.message)); }
}

// ---------------------------------------------------------------- release

const releasePath = (name) => teamPath() + "/apps/" + encodeURIComponent(name) + "/release";
const runName = (n) => (n ? "r" + n : "nothing");

// waitsFor says whom an environment's step waits for, in words.
function waitsFor(e) {
  switch (e.step) {
    case "approval": return "waits for a person's approval";
    case "paused": return "waits for a person: dmls release resume";
    case "wait": return e.from ? "waits for " + e.from : (e.canary ? "waits for the canary's gates" : "waits for the training run");
    case "none": return "";
  }
  return "the pipeline's next step: " + e.step + " " + runName(e.run);
}

function gateValue(g) {
  if (g.verdict === "nodata") return "no data";
  if (g.verdict === "error") return "—";
  return String(g.value);
}

// releaseCard is one environment of the pipeline: the run it serves, the
// canary, the step with its reason and gates, and the buttons a person
// acts with.
function releaseCard(e, act) {
  const card = el("li", { class: "panel release-env", "data-env": e.env, "data-step": e.step },
    el("div", { class: "row" }, el("strong", {}, e.env), el("span", { class: "step step-" + e.step, role: "status" }, e.step)),
    el("p", { class: "serving" }, "Serves ", el("strong", {}, runName(e.serving)),
      e.canary ? [" · canary ", el("strong", {}, runName(e.canary.run)), " at " + e.canary.percent + "%"] : ""));
  if (e.canary) card.append(trafficBar([{ revision: runName(e.serving), tag: runName(e.serving), percent: 100 - e.canary.percent }, { revision: runName(e.canary.run), tag: runName(e.canary.run), percent: e.canary.percent }]));
  const waits = waitsFor(e);
  card.append(el("p", { class: "reason" }, e.reason));
  if (waits) card.append(el("p", { class: "waits muted" }, waits + (e.until ? " (until " + e.until + ")" : "")));
  if (e.gates && e.gates.length) {
    card.append(el("table", { class: "gates" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Gate"), el("th", { scope: "col" }, "Value"), el("th", { scope: "col" }, "Max"), el("th", { scope: "col" }, "Verdict"))),
      el("tbody", {}, e.gates.map((g) => el("tr", { "data-gate": g.name },
        el("td", { title: g.query }, g.name), el("td", {}, gateValue(g)), el("td", {}, String(g.max)),
        el("td", {}, el("span", { class: "verdict v-" + g.verdict }, g.verdict)))))));
    const errs = e.gates.filter((g) => g.error);
    if (errs.length) card.append(el("ul", { class: "gate-errors muted" }, errs.map((g) => el("li", {}, g.name + ": " + g.error))));
  }
  if (e.lastStep) card.append(el("p", { class: "muted" }, "Last step: " + e.lastStep.step + " " + runName(e.lastStep.run) + " at " + e.lastStep.at));
  const buttons = el("div", { class: "row" });
  if (e.step === "approval") {
    buttons.append(el("button", { type: "button", class: "primary approve", on: { click: () => act("approve", e,
      "Approve " + runName(e.run) + " into " + e.env + ": a commit to ml-model, with you as the approver.") } }, "Approve"));
  }
  if (e.canary) {
    buttons.append(el("button", { type: "button", class: "abort", on: { click: () => act("abort", e,
      "Abort the canary " + runName(e.canary.run) + " in " + e.env + ": all traffic back to " + runName(e.serving) + ", and " + runName(e.canary.run) + " rejected.") } }, "Abort"));
  }
  if (buttons.childNodes.length) card.append(buttons);
  return card;
}

// releaseView shows the app's release pipeline (GET .../release), when it
// has a release policy, and refreshes it every few seconds.
async function releaseView(name) {
  let v;
  try {
    v = await api("GET", releasePath(name));
  } catch (e) {
    if (e.status !== 404) $("view").append(el("p", { class: "notice error" }, "Release pipeline: " + e.message));
    return;
  }
  const list = el("ol", { class: "pipeline" });
  const head = el("p", { class: "muted" });
  const f = el("form", { class: "panel", id: "release-form", novalidate: true },
    el("h2", {}, "Release pipeline"), head, list,
    el("p", { class: "field-error form-error", role: "alert" }),
    el("p", { class: "outcome", role: "status" }));
  const act = async (what, e, text) => {
    await action(f, text, "POST", releasePath(name) + "/" + what, { env: e.env });
    refresh();
  };
  const render = (v) => {
    head.replaceChildren(v.chain.join(" → "),
      v.training ? " · training run " + runName(v.training.run) + " " + v.training.state : "",
      v.rejected.length ? " · rejected " + v.rejected.map(runName).join(", ") : "",
      " · decided " + v.decidedAt);
    if (!v.managed) head.append(el("span", { class: "notice" }, " The app is written by hand in git: the pipeline decides, a person commits."));
    list.replaceChildren(...v.environments.map((e) => releaseCard(e, act)));
    sizeBars(list);
  };
  const refresh = async () => {
    try { render(await api("GET", releasePath(name))); } catch (e) { head.textContent = "Release pipeline: " + e.message; }
  };
  render(v);
  $("view").append(f);
  timer = setInterval(refresh, 5000);
}

// actorsOf names who made the changes of an API commit: each change's line
// says "(by ACTOR, request ID)" (a user's name, or a token's actor).
function actorsOf(message) {
  const actors = [];
  for (const m of message.matchAll(/\(by ([^,\n]+), request [^)\n]+\)/g)) if (!actors.includes(m[1])) actors.push(m[1]);
  return actors.length ? " · by " + actors.join(", ") : "";
}

const example = {
  training: "name: mnist\ntraining:\n  image: registry.example.com/ml-research/mnist:1.0.0\n  command: [python, /train.py]\n  hyperparameters:\n    learning_rate: 0.01\n  replicas:\n    worker:\n      replicas: 2\n",
  serving: "name: mnist-serve\nserving:\n  image: registry.example.com/ml-research/mnist-serve:1.0.0\n  revision: v1\n",
};

function submitView() {
  const view = $("view");
  const f = el("form", { class: "panel", id: "submit-form", novalidate: true },
    el("h1", {}, "Submit"),
    el("label", { for: "kind" }, "Kind"),
    el("select", { id: "kind" }, el("option", { value: "training" }, "Training job"), el("option", { value: "serving" }, "Model service")),
    el("label", { for: "spec-editor" }, "Spec (YAML, the same schema as the files in apps/)"),
    el("textarea", { id: "spec-editor", spellcheck: "false", "data-path": "spec" }, example.training),
    el("p", { class: "field-error", id: "spec-editor-error", role: "alert" }),
    el("p", { class: "field-error form-error", role: "alert" }),
    el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, "Submit")),
    el("p", { class: "outcome", role: "status" }));
  const kind = f.querySelector("#kind");
  kind.addEventListener("change", () => { f.querySelector("#spec-editor").value = example[kind.value]; });
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = f.querySelector("#spec-editor").value;
    const what = kind.value === "training" ? "training job" : "model service";
    const path = teamPath() + (kind.value === "training" ? "/trainingjobs" : "/modelservices");
    const out = f.querySelector(".outcome");
    // Each error names its field; show them next to the editor, one a line.
    const showErrors = (e) => {
      const list = (e.errors || [{ message: e.message }]).map((x) => ({ path: "spec", message: (x.path ? x.path + ": " : "") + x.message }));
      fieldErrors(f, list);
      out.className = "outcome notice error";
      out.textContent = "Not submitted.";
    };
    let preview;
    try {
      preview = await api("POST", withDryRun(path), text, "application/yaml");
      fieldErrors(f, []);
      out.className = "outcome";
      out.textContent = "";
    } catch (e) { showErrors(e); return; }
    if (!(await confirmChange("Submit this " + what + " for team " + me.team + ": a commit to ml-model.", preview))) return;
    try {
      const r = await api("POST", path, text, "application/yaml");
      fieldErrors(f, []);
      out.className = "outcome notice";
      out.textContent = "Submitted " + r.app + ": " + (r.commits || []).map((c) => c.repo + " " + short(c.sha)).join(", ");
      location.hash = "#/app/" + encodeURIComponent(r.app);
    } catch (e) { showErrors(e); }
  });
  view.append(f);
  f.querySelector("#spec-editor").focus();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut("Signed out."));
  $("oidc-login").addEventListener("click", oidcLogin);
  $("team-pick").addEventListener("change", (ev) => { me.team = ev.target.value; store.setItem("dmls.team", me.team); location.hash = "#/"; route(); });
  window.addEventListener("hashchange", route);
  await loadAuthConfig();
  try {
    await oidcCallback();
  } catch (e) {
    signOut(e.message);
    return;
  }
  route();
});
