//! The two baselines every NILM result is judged against, trained on the same data:
//! - Mean: always predict the appliance's average energy per interval (over its owners).
//! - CO, combinatorial optimisation (Hart 1992; NILMTK's classic): each device has a few power
//!   states learned by k-means; at each interval choose the combination of states whose sum is
//!   closest to the metered import. Devices: the predicted appliances plus "everything else".

use crate::appliances::PREDICTED;
use crate::dataset::Dataset;

/// Predicts each appliance's training mean.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanBaseline {
    pub mean_wh: Vec<f64>,
}

impl MeanBaseline {
    /// Means over the intervals of households owning each appliance.
    pub fn fit(ds: &Dataset) -> MeanBaseline {
        let mean_wh = (0..PREDICTED.len())
            .map(|a| {
                let (mut s, mut n) = (0.0, 0usize);
                for i in 0..ds.len() {
                    if ds.owns(i, a) {
                        s += f64::from(ds.truth(i, a));
                        n += 1;
                    }
                }
                s / n.max(1) as f64
            })
            .collect();
        MeanBaseline { mean_wh }
    }
}

/// Combinatorial optimisation over k-means states.
#[derive(Debug, Clone, PartialEq)]
pub struct CoBaseline {
    /// Per device (predicted appliances, then "rest"), its state energies (Wh per interval).
    pub states: Vec<Vec<f64>>,
    /// Every combination's total, sorted, with the combination's state indices.
    combos: Vec<(f64, Vec<u8>)>,
}

/// 1-D k-means (k states, one always at zero: "off"), deterministic initialisation at
/// quantiles.
fn kmeans(values: &mut [f64], k: usize) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let on: Vec<f64> = values.iter().copied().filter(|v| *v > 1.0).collect();
    if on.is_empty() {
        return vec![0.0];
    }
    let mut c: Vec<f64> = (0..k - 1)
        .map(|i| on[(on.len() - 1) * (2 * i + 1) / (2 * (k - 1))])
        .collect();
    for _ in 0..30 {
        let mut sum = vec![0.0; c.len()];
        let mut n = vec![0usize; c.len()];
        for v in &on {
            let j = (0..c.len())
                .min_by(|a, b| (c[*a] - v).abs().total_cmp(&(c[*b] - v).abs()))
                .expect("k >= 2");
            sum[j] += v;
            n[j] += 1;
        }
        for j in 0..c.len() {
            if n[j] > 0 {
                c[j] = sum[j] / n[j] as f64;
            }
        }
    }
    let mut states = vec![0.0];
    states.extend(c);
    states.sort_by(f64::total_cmp);
    states.dedup_by(|a, b| (*a - *b).abs() < 1.0);
    states
}

impl CoBaseline {
    /// Learns 3 states per device (off and two on-levels) from owners' intervals.
    pub fn fit(ds: &Dataset) -> CoBaseline {
        let mut states = Vec::new();
        for a in 0..PREDICTED.len() {
            let mut v: Vec<f64> = (0..ds.len())
                .filter(|i| ds.owns(*i, a))
                .map(|i| f64::from(ds.truth(i, a)))
                .collect();
            states.push(kmeans(&mut v, 3));
        }
        let mut rest: Vec<f64> = ds.rest_wh.iter().map(|v| f64::from(*v)).collect();
        states.push(kmeans(&mut rest, 3));
        let mut combos = vec![(0.0, Vec::new())];
        for s in &states {
            let mut next = Vec::with_capacity(combos.len() * s.len());
            for (sum, pick) in &combos {
                for (j, e) in s.iter().enumerate() {
                    let mut p = pick.clone();
                    p.push(j as u8);
                    next.push((sum + e, p));
                }
            }
            combos = next;
        }
        combos.sort_by(|a, b| a.0.total_cmp(&b.0));
        CoBaseline { states, combos }
    }

    /// Each predicted appliance's energy (Wh) at an interval with this metered import.
    pub fn predict(&self, import_wh: f64) -> Vec<f64> {
        let i = self.combos.partition_point(|c| c.0 < import_wh);
        let best = [i.saturating_sub(1), i.min(self.combos.len() - 1)]
            .into_iter()
            .min_by(|a, b| {
                (self.combos[*a].0 - import_wh)
                    .abs()
                    .total_cmp(&(self.combos[*b].0 - import_wh).abs())
            })
            .expect("two candidates");
        let pick = &self.combos[best].1;
        (0..PREDICTED.len())
            .map(|a| self.states[a][pick[a] as usize])
            .collect()
    }
}
