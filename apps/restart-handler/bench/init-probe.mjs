// Runs in a fresh Node process: time to import the bundled handler, which reads its
// configuration and constructs its SDK clients and logger at module scope.
const start = performance.now();
await import(process.argv[2]);
process.stdout.write(`${(performance.now() - start).toFixed(3)}\n`);
