/**
 * Surgery on a tfjs-layers model config: where a unit mask goes and how it is
 * spliced in (Sequential and functional graphs).
 *
 * @packageDocumentation
 */
import type * as tf from '@tensorflow/tfjs-core';

import { UnsupportedError } from './errors.js';
import { UnitMask } from './unit-mask-layer.js';

export type ConfigDict = tf.serialization.ConfigDict;
export interface LayerConfigEntry {
  className: string;
  config: ConfigDict;
  name?: string;
  inboundNodes?: unknown[];
}

/** Layers that act on each unit alone, so a masked unit stays masked through them (Softmax mixes units: not here). */
const PER_UNIT_CLASSES: ReadonlySet<string> = new Set([
  'BatchNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'ThresholdedReLU',
  'PReLU',
]);

/** The name a layer config entry goes by. */
export function entryName(l: LayerConfigEntry): string {
  return l.name ?? (l.config.name as string);
}

/** Whether a per-unit layer acts on the last axis (BatchNormalization's axis; activations always). */
function perUnitOnLastAxis(entry: LayerConfigEntry, rank: number): boolean {
  if (!PER_UNIT_CLASSES.has(entry.className)) return false;
  if (entry.className === 'BatchNormalization' || entry.className === 'PReLU') {
    const axis = entry.config[entry.className === 'PReLU' ? 'sharedAxes' : 'axis'];
    if (entry.className === 'PReLU') {
      // PReLU's alpha is per position unless shared over every axis but the last
      return Array.isArray(axis) && axis.length === rank - 1;
    }
    return axis === undefined || axis === -1 || axis === rank;
  }
  // an Activation layer with softmax mixes units
  return !(entry.className === 'Activation' && entry.config.activation === 'softmax');
}

/**
 * Where a unit mask on `layer` goes so that a masked unit reads as 0 in every
 * later layer: after `layer`, or after the BatchNormalization and activation
 * layers that follow it directly as its only consumer (a mask before a
 * BatchNormalization would leave the channel at the BN's shift, `β - γ·μ/σ`,
 * for every input). Returns the name of the layer the mask follows.
 */
function maskSite(config: ConfigDict, layer: string, sequential: boolean, rank: number): string {
  const layersCfg = config.layers as unknown as LayerConfigEntry[];
  let at = layersCfg.findIndex((l) => entryName(l) === layer);
  if (sequential) {
    while (at + 1 < layersCfg.length && perUnitOnLastAxis(layersCfg[at + 1]!, rank)) at++;
    return entryName(layersCfg[at]!);
  }
  let site = layer;
  for (;;) {
    const consumers: LayerConfigEntry[] = [];
    let refs = 0;
    for (const entry of layersCfg) {
      for (const node of (entry.inboundNodes ?? []) as unknown[][]) {
        for (const ref of node) {
          if (Array.isArray(ref) && ref[0] === site) {
            refs++;
            consumers.push(entry);
          }
        }
      }
    }
    for (const ref of config.outputLayers as unknown as unknown[]) if (Array.isArray(ref) && ref[0] === site) refs++;
    const next = consumers[0];
    if (refs !== 1 || next === undefined || (next.inboundNodes ?? []).length !== 1) return site;
    if (!perUnitOnLastAxis(next, rank)) return site;
    site = entryName(next);
  }
}

/**
 * Splices a {@link UnitMask} named `maskName` with `units` factors into
 * `config` after {@link maskSite}'s site for `layer` (in place).
 *
 * @throws {@link UnsupportedError} for a layer called more than once (shared).
 */
export function insertUnitMask(
  fn: string,
  config: ConfigDict,
  layer: string,
  maskName: string,
  units: number,
  sequential: boolean,
  rank: number,
): void {
  const maskEntry: LayerConfigEntry = {
    className: UnitMask.className,
    config: { name: maskName, units, trainable: false },
  };
  const layersCfg = config.layers as unknown as LayerConfigEntry[];
  const site = maskSite(config, layer, sequential, rank);
  const at = layersCfg.findIndex((l) => entryName(l) === site);
  if (sequential) {
    layersCfg.splice(at + 1, 0, maskEntry);
    return;
  }
  const inbound = layersCfg[at]!.inboundNodes ?? [];
  if (inbound.length > 1) {
    throw new UnsupportedError({ fn, arg: 'layer', value: layer }, 'is shared (called more than once); cannot mask it');
  }
  // Redirect every consumer of the site to the mask, then feed the mask from the site.
  const redirect = (ref: unknown): void => {
    if (Array.isArray(ref) && ref[0] === site && typeof ref[1] === 'number') ref[0] = maskName;
  };
  for (const entry of layersCfg) {
    for (const node of (entry.inboundNodes ?? []) as unknown[][]) for (const ref of node) redirect(ref);
  }
  for (const ref of config.outputLayers as unknown as unknown[]) redirect(ref);
  layersCfg.splice(at + 1, 0, { ...maskEntry, name: maskName, inboundNodes: [[[site, 0, 0, {}]]] });
}
