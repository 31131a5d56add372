/**
 * The committed API report (docs/api-report.md) is the API as built: a change
 * to an export shows in review as a diff of that file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { apiReport, REPORT_PATH } from '../scripts/api-report.js';

describe('API report', () => {
  it('docs/api-report.md is current (regenerate: npx tsx scripts/api-report.ts --write)', () => {
    assert.equal(readFileSync(REPORT_PATH, 'utf8'), apiReport());
  });
});
