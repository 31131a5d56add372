#!/usr/bin/env bash
# Packs the library and installs the tarball into a fresh project, then checks
# that `import { fromLayersModel } from 'backdoor-kit'` works at run time and
# type-checks, and that the `backdoor-kit` CLI runs. Usage: bash scripts/check-pack.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
npm run build >/dev/null
tarball="$root/$(npm pack --silent | tail -n 1)"
work="$(mktemp -d)"
trap 'rm -rf "$work" "$tarball"' EXIT
cd "$work"
npm init -y >/dev/null
npm pkg set type=module >/dev/null
npm install --no-audit --no-fund --silent "$tarball" @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-layers@4.22.0 \
  @tensorflow/tfjs-backend-cpu@4.22.0 typescript@5.9.3 @types/node@20 >/dev/null
cat > check.ts <<'TS'
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { fromLayersModel, models, registerFastKernels, type Classifier } from 'backdoor-kit';

await tf.setBackend('cpu');
registerFastKernels();
const clf: Classifier = fromLayersModel(models.smallCnn({ inputShape: [28, 28, 1], numClasses: 10, seed: 1 }));
const p = clf.predict(tf.zeros([2, 28, 28, 1]));
console.log('predict shape', p.shape.join('x'), 'model class', tfl.LayersModel.name);
TS
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "skipLibCheck": true, "outDir": "out" }, "include": ["check.ts"] }
JSON
npx tsc -p tsconfig.json
node out/check.js
# the CLI: installed as a bin, answers --help, and a corrupt model exits 1 with one line
./node_modules/.bin/backdoor-kit --help | head -n 1
mkdir bad && echo '{not json' > bad/model.json
set +e
./node_modules/.bin/backdoor-kit scan bad --data mnist --backend cpu 2>err.txt
code=$?
set -e
if [ "$code" -ne 1 ] || [ "$(wc -l < err.txt)" -ne 1 ]; then
  echo "pack check: CLI on a corrupt model.json exited $code with: $(cat err.txt)"; exit 1
fi
echo "pack check: OK ($(basename "$tarball"))"
