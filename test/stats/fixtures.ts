/**
 * A fixed matrix shared by the stats tests: three sources (sine, sawtooth,
 * square) mixed into four observations, 300 rows. Reference values quoted in
 * the tests were computed from the same formulas with scikit-learn 1.2.1.
 */
export const N = 300;
export const S1 = Array.from({ length: N }, (_, t) => Math.sin(t * 0.21));
export const S2 = Array.from({ length: N }, (_, t) => ((t * 0.37) % 2) - 1);
export const S3 = Array.from({ length: N }, (_, t) => Math.sign(Math.sin(t * 0.053 + 0.5)));
export const MIXING = [
  [1.0, 0.5, 0.2],
  [0.4, 1.0, 0.3],
  [0.3, 0.2, 1.0],
  [0.7, -0.4, 0.5],
];
export const X: number[][] = Array.from({ length: N }, (_, t) =>
  MIXING.map((r) => r[0]! * S1[t]! + r[1]! * S2[t]! + r[2]! * S3[t]!),
);
