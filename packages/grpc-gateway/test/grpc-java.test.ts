/**
 * The gateway in front of a server it did not grow up with: grpc-java (test/java/LibraryServer.java, run as a
 * single source file with the jars `scripts/services libs grpc-java` resolves from Maven Central).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { eventually } from "@x/testkit";
import {
  type RunningGateway,
  TRANSPORTS,
  type Transport,
  call,
  startGateway,
} from "./helpers.js";

const ROOT = join(__dirname, "..", "..", "..");

let java: ChildProcess;
const lines: string[] = [];
const gateways = new Map<Transport, RunningGateway>();

beforeAll(async () => {
  const libs = execFileSync(
    "bash",
    [join(ROOT, "scripts", "services"), "libs", "grpc-java"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }
  ).trim();
  java = spawn(
    "java",
    ["-cp", `${libs}/*`, join(__dirname, "java", "LibraryServer.java")],
    { stdio: ["ignore", "pipe", "pipe"] }
  );
  let stderr = "";
  java.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let buffered = "";
  java.stdout!.on("data", (chunk: Buffer) => {
    const parts = (buffered + chunk.toString()).split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  await eventually(
    () => lines.some((line) => line.startsWith('{"port"')),
    `grpc-java to listen (${stderr.slice(-500)})`,
    60_000
  );
  const { port } = JSON.parse(
    lines.find((line) => line.startsWith('{"port"'))!
  ) as { port: number };
  for (const transport of TRANSPORTS)
    gateways.set(transport, await startGateway(port, {}, transport));
}, 90_000);

afterAll(async () => {
  for (const gateway of gateways.values()) await gateway.close();
  java?.kill("SIGKILL");
});

describe.each(TRANSPORTS)("in front of grpc-java, through %s", (transport) => {
  const gateway = {
    get url(): string {
      return gateways.get(transport)!.url;
    },
  };
  it("carries a unary call there and back, with the authorization metadata and the deadline the server sees", async () => {
    const reply = await call(
      `${gateway.url}/v1/shelves/1/books/%C3%A9t%C3%A9`,
      "GET",
      undefined,
      { authorization: "Bearer java", "grpc-timeout": "5S" }
    );
    expect(reply.status).toBe(200);
    const book = reply.json() as { name: string; title: string };
    expect(book.name).toBe("shelves/1/books/été");
    const [, auth, remaining] = /^auth=(.*);deadline=(\d+)$/.exec(book.title)!;
    expect(auth).toBe("Bearer java");
    // The gateway's deadline reached Java as grpc-timeout: under 5 s left, and not much of it spent.
    expect(Number(remaining)).toBeLessThanOrEqual(5_000);
    expect(Number(remaining)).toBeGreaterThan(3_000);
  });

  it("reads a server stream from grpc-java as JSON lines", async () => {
    const reply = await call(`${gateway.url}/v1/books:stream?count=50`, "GET");
    const names = reply.text
      .trimEnd()
      .split("\n")
      .map(
        (line) => (JSON.parse(line) as { result: { name: string } }).result.name
      );
    expect(names).toEqual(
      Array.from({ length: 50 }, (_, i) => `shelves/1/books/${i + 1}`)
    );
  });

  it("cancels the call on grpc-java when the HTTP client hangs up", async () => {
    const hungUp = request(`${gateway.url}/v1/shelves/${transport}/books/slow`);
    hungUp.on("error", () => undefined);
    hungUp.end();
    await new Promise((resolve) => setTimeout(resolve, 300));
    hungUp.destroy();
    await eventually(
      () => lines.includes(`cancelled GetBook shelves/${transport}/books/slow`),
      "grpc-java to see the call cancelled",
      10_000
    );
  });
});
