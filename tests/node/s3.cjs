// An S3-compatible server for the media tests: @20minutes/s3rver 4.0.4
// (a maintained fork of s3rver that verifies SigV4 signatures, header and
// presigned, unlike s3rver 3.x; docs/media-out.md §4) on 127.0.0.1,
// storing objects under a directory, with one bucket.
//
//   node tests/node/s3.cjs --port N [--dir D] [--bucket B]
//
// Credentials are s3rver's own: access key S3RVER, secret S3RVER.
// Without --dir a temporary directory is used and removed on exit; with
// it the objects survive a restart on the same port (the tests stop the
// store to see Parley fall back, then start it again). Exits 0 on SIGTERM
// (tests/harness/fake.c hnode_start / hfake_stop).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const S3rver = require('@20minutes/s3rver');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg('--port', '0'));
const given = arg('--dir');
const dir = given || fs.mkdtempSync(path.join(os.tmpdir(), 'parley-s3-'));
const bucket = arg('--bucket', 'parley-media');

fs.mkdirSync(dir, { recursive: true });
const server = new S3rver({
  address: '127.0.0.1',
  port,
  silent: true,
  directory: dir,
  configureBuckets: [{ name: bucket }],
  vhostBuckets: false,
  allowMismatchedSignatures: false,
});

server.run().then(({ port: p }) => {
  console.log(`s3rver listening on 127.0.0.1:${p}, bucket ${bucket}, ` +
    `directory ${dir}`);
}, (err) => {
  console.error(`s3rver did not start: ${err.stack || err}`);
  process.exit(1);
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => {});
  if (!given) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
