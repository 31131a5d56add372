/**
 * Attack benchmark (issue 3): BadNets all-to-one and all-to-all, blended and
 * reflection triggers on the small CNN and the bundled MNIST split; the clean
 * model as baseline. Prints a table; `npm run bench -- attacks` writes it to
 * docs/results.md.
 */
import { pathToFileURL } from 'node:url';

import { triggers } from '../src/index.js';
import { markdownTable } from './results-file.js';
import { subject, useBackend, type SubjectOptions } from './subjects.js';

interface Row {
  attack: string;
  setting: string;
  cleanAccuracy: number;
  asr: number;
  trainSeconds: number;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** Runs every attack and returns the markdown section. */
export async function benchAttacks(): Promise<{ markdown: string; rows: Row[] }> {
  await useBackend('wasm');
  const noise = triggers.noiseImage({ height: 28, width: 28, channels: 1, seed: 7 });
  const cases: Array<{ attack: string; setting: string; opts: SubjectOptions }> = [
    {
      attack: 'none (clean model)',
      setting: 'ASR of the 4×4 square on a model trained without poison',
      opts: { kind: 'clean' },
    },
    {
      attack: 'BadNets all-to-one',
      setting: '4×4 white square bottom-right, target 0, 10% of the training set (replace)',
      opts: { kind: 'all-to-one' },
    },
    {
      attack: 'BadNets all-to-all',
      setting: '4×4 white square bottom-right, y → y+1 mod 10, 10% of each class (append)',
      opts: { kind: 'all-to-all' },
    },
    {
      attack: 'Blended (Chen et al. 2017)',
      setting: 'seeded uniform-noise image, α = 0.2, target 0, 10% (replace)',
      opts: {
        kind: 'all-to-one',
        trigger: triggers.blend({ image: noise, height: 28, width: 28, alpha: 0.2 }),
        triggerName: 'blend-noise7-a0.2',
      },
    },
    ...(['in-focus', 'out-of-focus', 'ghost'] as const).map((model) => ({
      attack: `Reflection (${model})`,
      setting: 'seeded noise image as reflection layer, α = 0.25, target 0, 10% (replace)',
      opts: {
        kind: 'all-to-one' as const,
        trigger: triggers.reflection({ image: noise, height: 28, width: 28, model }),
        triggerName: `reflection-${model}-noise7`,
      },
    })),
  ];
  const rows: Row[] = [];
  for (const c of cases) {
    console.error(`attacks: ${c.attack} ...`);
    const s = await subject(c.opts);
    rows.push({
      attack: c.attack,
      setting: c.setting,
      cleanAccuracy: s.cleanAccuracy,
      asr: s.asr,
      trainSeconds: s.trainSeconds,
    });
    s.classifier.dispose();
  }
  const table = markdownTable(
    ['attack', 'setting', 'clean accuracy', 'ASR'],
    rows.map((r) => [r.attack, r.setting, pct(r.cleanAccuracy), pct(r.asr)]),
  );
  const a2o = rows[1]!;
  const a2a = rows[2]!;
  const markdown = [
    'Small CNN, 8 epochs (20 for all-to-all), Adam lr 1e-3, batch 128, seed 0, trained on wasm on the 8,000 training digits of `datasets.mnist({ testFraction: 0.2, seed: 0 })`; evaluated on the 2,000 test digits. ASR counts triggered test digits classified as the attack target, leaving out digits whose true label already is the target. Poison selection seed 1.',
    '',
    table,
    '',
    `Bars: BadNets all-to-one ASR ≥ 95% and clean ≥ 95% — **${pct(a2o.asr)} / ${pct(a2o.cleanAccuracy)}**; all-to-all ASR ≥ 85% and clean ≥ 95% — **${pct(a2a.asr)} / ${pct(a2a.cleanAccuracy)}**.`,
  ].join('\n');
  return { markdown, rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchAttacks()
    .then(({ markdown }) => console.log(markdown))
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
