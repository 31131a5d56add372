#!/usr/bin/env node
/**
 * Entry point of the `backdoor-kit` command (package.json `bin`). See
 * `backdoor-kit --help` and docs/cli.md.
 *
 * @packageDocumentation
 */
import { runCli } from './main.js';

// Errors are caught inside runCli (one line on stderr, exit 1), so the wasm
// module never prints its source on an uncaught error.
process.exitCode = await runCli(process.argv.slice(2));
