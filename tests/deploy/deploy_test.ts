// scripts/deploy.sh: the printed commands and their order (--dry-run), that no secret value is ever
// printed, refusals (bad environment name, missing secrets, production without --yes), a real run
// against stand-in `supabase`/curl/wasm-build commands (secrets reach the CLI through a file that
// is removed afterwards), and that .github/workflows/deploy.yml maps every secret the script reads.
// Needs no stack and no network.
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SCRIPT = `${ROOT}/scripts/deploy.sh`;
const REF = "abcdefghijklmnopqrst";

/** Names in supabase/functions/.env.example: `NAME=` lines are required, `# NAME=` optional. */
function secretNames(): { required: string[]; optional: string[] } {
  const text = Deno.readTextFileSync(`${ROOT}/supabase/functions/.env.example`);
  const pick = (re: RegExp) => [...text.matchAll(re)].map((m) => m[1]);
  return {
    required: pick(/^([A-Z][A-Z0-9_]*)=/gm),
    optional: pick(/^# ([A-Z][A-Z0-9_]*)=/gm),
  };
}

/** The functions to deploy: folders of supabase/functions with an index.ts, not `_shared`. */
function functionNames(): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(`${ROOT}/supabase/functions`)) {
    if (!e.isDirectory || e.name.startsWith("_")) continue;
    try {
      Deno.statSync(`${ROOT}/supabase/functions/${e.name}/index.ts`);
      names.push(e.name);
    } catch { /* not a function */ }
  }
  // The script walks the glob, i.e. sorted bytewise.
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A full, valid environment whose every value is unique and recognisable. */
function secretEnv(): Record<string, string> {
  const tag = crypto.randomUUID().slice(0, 8);
  const env: Record<string, string> = {
    SUPABASE_PROJECT_REF: REF,
    SUPABASE_ACCESS_TOKEN: `sbp_access_${tag}_value`,
    SUPABASE_DB_PASSWORD: `db-password-${tag}`,
  };
  const { required, optional } = secretNames();
  for (const n of required) env[n] = `${n.toLowerCase()}-${tag}-secret`;
  // One optional secret present, to see it is set; the others absent.
  if (optional.includes("JWT_SECRET")) env.JWT_SECRET = `jwt-${tag}-secret`;
  return env;
}

const SECRET_KEYS = (env: Record<string, string>) =>
  Object.keys(env).filter((k) => k !== "SUPABASE_PROJECT_REF");

async function deploy(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

const commands = (out: string) =>
  out.split("\n").filter((l) => l.startsWith("+ ")).map((l) => l.slice(2));

function assertNoSecret(text: string, env: Record<string, string>) {
  for (const k of SECRET_KEYS(env)) {
    assert.ok(!text.includes(env[k]), `the value of ${k} was printed`);
  }
}

Deno.test("deploy.sh --dry-run prints every command in order and no secret value", async () => {
  const env = secretEnv();
  const r = await deploy(["staging", "--dry-run"], env);
  assert.equal(r.code, 0, r.err);
  const cmds = commands(r.out);
  const fns = functionNames();
  assert.ok(fns.length >= 9, `functions found: ${fns}`);
  assert.equal(cmds[0], "bash scripts/build-wasm.sh");
  assert.equal(cmds[1], `supabase link --project-ref ${REF} --yes`);
  assert.equal(cmds[2], "supabase db push --remote --yes");
  assert.match(cmds[3], /^supabase secrets set --env-file <temporary file> --yes +# /);
  assert.deepEqual(
    cmds.slice(4, 4 + fns.length),
    fns.map((f) => `supabase functions deploy ${f} --use-api --yes`),
  );
  assert.match(
    cmds[4 + fns.length],
    new RegExp(`^curl .*https://${REF}\\.supabase\\.co/functions/v1/health$`),
  );
  assert.equal(cmds.length, 5 + fns.length);
  // The secrets line names every required secret and the optional one present, values masked.
  const { required, optional } = secretNames();
  for (const n of [...required, "JWT_SECRET"]) assert.ok(cmds[3].includes(` ${n}=***`), n);
  for (const n of optional.filter((n) => n !== "JWT_SECRET")) {
    assert.ok(!cmds[3].includes(` ${n}=`), n);
  }
  assert.ok(!cmds.some((c) => c.includes("_shared")), "_shared is not a function");
  assertNoSecret(r.out + r.err, env);
  assert.match(r.out, /dry run: nothing is executed/);
});

Deno.test("deploy.sh --skip-db leaves out db push; production dry-run needs no --yes", async () => {
  const env = secretEnv();
  const r = await deploy(["production", "--dry-run", "--skip-db", "--skip-smoke"], env);
  assert.equal(r.code, 0, r.err);
  const cmds = commands(r.out);
  assert.ok(!cmds.some((c) => c.includes("db push")));
  assert.ok(!cmds.some((c) => c.startsWith("curl")));
  assert.match(r.out, /to production/);
  assertNoSecret(r.out + r.err, env);
});

Deno.test("deploy.sh refuses a bad environment name before doing anything", async () => {
  const env = secretEnv();
  for (const name of ["prod", "Staging", "", "staging;id", "--dry-run"]) {
    const r = await deploy(name === "" ? [] : [name, "--dry-run"], env);
    assert.equal(r.code, 2, `${name}: ${r.out}${r.err}`);
    assert.match(r.err, /staging or production/);
    assert.deepEqual(commands(r.out), [], name);
  }
  const r = await deploy(["staging", "--dry-run", "--bogus"], env);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown option: --bogus/);
});

Deno.test("deploy.sh refuses missing secrets and a bad project ref, naming but not showing", async () => {
  const env = secretEnv();
  const { required } = secretNames();
  const missing = { ...env };
  delete missing[required[0]];
  delete missing.SUPABASE_ACCESS_TOKEN;
  let r = await deploy(["staging", "--dry-run"], missing);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`missing for staging: SUPABASE_ACCESS_TOKEN ${required[0]}`));
  assert.deepEqual(commands(r.out), []);
  assertNoSecret(r.out + r.err, env);
  const quoted = { ...env, [required[0]]: "it's-a-secret-value" };
  r = await deploy(["staging", "--dry-run"], quoted);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`${required[0]} holds a newline or a single quote`));
  assert.deepEqual(commands(r.out), []);
  assert.ok(!(r.out + r.err).includes("it's-a-secret-value"));
  r = await deploy(["staging", "--dry-run"], { ...env, SUPABASE_PROJECT_REF: "abc; rm -rf /" });
  assert.equal(r.code, 1);
  assert.match(r.err, /SUPABASE_PROJECT_REF must be a project ref/);
});

Deno.test("deploy.sh production without --yes is refused", async () => {
  const r = await deploy(["production"], secretEnv());
  assert.equal(r.code, 2);
  assert.match(r.err, /production needs --yes/);
  assert.deepEqual(commands(r.out), []);
});

Deno.test("deploy.sh runs the commands it prints; secrets reach the CLI in a removed file", async () => {
  await Deno.mkdir(`${ROOT}/.local`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}/.local`, prefix: "deploy-test-" });
  try {
    const log = `${dir}/calls.log`;
    // Stand-ins: each records its arguments; `secrets set` also copies the file it was given.
    const stub = `${dir}/stub.sh`;
    await Deno.writeTextFile(
      stub,
      `#!/usr/bin/env bash
printf '%s\\n' "$*" >> ${log}
if [ "$2 $3" = "secrets set" ]; then cp "$5" ${dir}/secrets.seen; stat -c %a "$5" > ${dir}/secrets.mode; echo "$5" > ${dir}/secrets.path; fi
`,
    );
    await Deno.chmod(stub, 0o755);
    const env = {
      ...secretEnv(),
      SUPABASE_CLI: `${stub} supabase`,
      WASM_BUILD: `${stub} build-wasm`,
      CURL: `${stub} curl`,
    };
    const r = await deploy(["staging", "--allow-dirty"], env);
    assert.equal(r.code, 0, r.err);
    const calls = (await Deno.readTextFile(log)).trim().split("\n");
    const printed = commands(r.out).map((c) => c.replace(/ +#.*$/, ""));
    assert.equal(calls.length, printed.length);
    assert.equal(calls[0], "build-wasm");
    for (let i = 1; i < calls.length; i++) {
      const printedCmd = printed[i].replace("<temporary file>", "");
      if (calls[i].startsWith("supabase secrets set")) {
        assert.match(printed[i], /^supabase secrets set --env-file \S+ --yes$/);
        continue;
      }
      assert.equal(calls[i], printedCmd, `call ${i}`);
    }
    const seen = await Deno.readTextFile(`${dir}/secrets.seen`);
    const { required } = secretNames();
    for (const n of [...required, "JWT_SECRET"]) {
      assert.ok(seen.split("\n").includes(`${n}='${env[n as keyof typeof env]}'`), n);
    }
    assert.ok(!seen.includes("SUPABASE_ACCESS_TOKEN") && !seen.includes("SUPABASE_DB_PASSWORD"));
    assert.equal((await Deno.readTextFile(`${dir}/secrets.mode`)).trim(), "600");
    const path = (await Deno.readTextFile(`${dir}/secrets.path`)).trim();
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound, "the secrets file is removed");
    for (
      const k of SECRET_KEYS(env).filter((k) => !["SUPABASE_CLI", "WASM_BUILD", "CURL"].includes(k))
    ) {
      assert.ok(!(r.out + r.err).includes(env[k as keyof typeof env]), `value of ${k} printed`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy.yml maps every secret the script reads, from the GitHub environment", () => {
  const wf = Deno.readTextFileSync(`${ROOT}/.github/workflows/deploy.yml`);
  const { required, optional } = secretNames();
  for (const n of ["SUPABASE_ACCESS_TOKEN", "SUPABASE_DB_PASSWORD", ...required, ...optional]) {
    assert.match(wf, new RegExp(`^ +${n}: \\$\\{\\{ (secrets|vars)\\.${n}\\b`, "m"), n);
  }
  assert.match(wf, /SUPABASE_PROJECT_REF: \$\{\{ vars\.SUPABASE_PROJECT_REF \}\}/);
  // Secrets only ever pass through env:, never interpolated into a run: script.
  for (const m of wf.matchAll(/run: \|\n((?: {10,}.*\n?)+)/g)) {
    assert.ok(!m[1].includes("secrets."), m[1]);
  }
  assert.match(wf, /bash scripts\/deploy\.sh staging \$DEPLOY_FLAGS\n/);
  assert.match(wf, /bash scripts\/deploy\.sh production --yes \$DEPLOY_FLAGS\n/);
});
