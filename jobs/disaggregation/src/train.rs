//! Seeded training on simulator data. Weights are initialised and batches shuffled from our
//! own seeded generator (Candle's CPU generator cannot be seeded), so the same configuration
//! gives the same model.

use crate::DisaggError;
use crate::appliances::PREDICTED;
use crate::augment::Randomisation;
use crate::dataset::{Dataset, Selection, build, spread_weeks};
use crate::features::{DIM, PER_DAY, names};
use crate::model::{
    Architecture, Body, Disaggregator, KERNEL, Layers, ModelMeta, conv_config, logit, thresholds,
};
use crate::splitmix::SplitMix64;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Conv1d, Linear, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use zeal_civil::days_from_civil;
use zeal_meters::household::Archetype;

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub seed: u64,
    /// Simulator seed and households of the training set.
    pub sim_seed: u64,
    pub households: u64,
    /// Weeks per household, spread over 2020.
    pub weeks: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub hidden: [usize; 2],
    pub version: String,
    /// Domain randomisation of the training days ([`crate::augment`]); absent in models
    /// trained before it existed.
    #[serde(default)]
    pub augment: Randomisation,
    /// Dense layers (shipped) or temporal convolutions; absent in older models: dense.
    #[serde(default)]
    pub architecture: Architecture,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 2020,
            sim_seed: 1,
            households: 60,
            weeks: 8,
            epochs: 12,
            batch: 256,
            learning_rate: 2e-3,
            hidden: [96, 48],
            version: "disagg-v2".into(),
            augment: Randomisation {
                distractors: true,
                ..Randomisation::default()
            },
            architecture: Architecture::Mlp,
        }
    }
}

impl TrainConfig {
    /// The training set this configuration describes.
    pub fn selection(&self) -> Selection {
        Selection {
            seed: self.sim_seed,
            households: 0..self.households,
            archetypes: None,
            weeks: spread_weeks(days_from_civil(2020, 1, 6), self.weeks, 0),
            augment: self
                .augment
                .any()
                .then_some((self.augment, self.seed ^ 0xA06)),
        }
    }
}

/// Progress of training, for displays.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Simulating {
        done: usize,
        total: usize,
    },
    Epoch {
        epoch: usize,
        epochs: usize,
        loss: f64,
    },
}

/// A layer with uniform ±sqrt(6 / (in + out)) weights (Glorot) and zero biases.
fn layer(rng: &mut SplitMix64, inp: usize, out: usize) -> Result<(Linear, Var, Var), DisaggError> {
    let bound = (6.0 / (inp + out) as f64).sqrt();
    let w: Vec<f32> = (0..inp * out)
        .map(|_| ((2.0 * rng.unit() - 1.0) * bound) as f32)
        .collect();
    let w = Var::from_tensor(&Tensor::from_vec(w, (out, inp), &Device::Cpu)?)?;
    let b = Var::from_tensor(&Tensor::zeros(out, DType::F32, &Device::Cpu)?)?;
    Ok((
        Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone())),
        w,
        b,
    ))
}

/// A temporal convolution with Glorot-uniform weights (fan = channels × kernel) and zero
/// biases.
fn conv(
    rng: &mut SplitMix64,
    inp: usize,
    out: usize,
    layer: usize,
) -> Result<(Conv1d, Var, Var), DisaggError> {
    let bound = (6.0 / ((inp + out) * KERNEL) as f64).sqrt();
    let w: Vec<f32> = (0..out * inp * KERNEL)
        .map(|_| ((2.0 * rng.unit() - 1.0) * bound) as f32)
        .collect();
    let w = Var::from_tensor(&Tensor::from_vec(w, (out, inp, KERNEL), &Device::Cpu)?)?;
    let b = Var::from_tensor(&Tensor::zeros(out, DType::F32, &Device::Cpu)?)?;
    Ok((
        Conv1d::new(
            w.as_tensor().clone(),
            Some(b.as_tensor().clone()),
            conv_config(layer),
        ),
        w,
        b,
    ))
}

/// Feature means and standard deviations (std floored so constant features stay finite).
fn standardisation(ds: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let n = ds.len().max(1) as f64;
    let mut mean = vec![0f64; DIM];
    for i in 0..ds.len() {
        for (m, v) in mean.iter_mut().zip(ds.features(i)) {
            *m += f64::from(*v) / n;
        }
    }
    let mut var = vec![0f64; DIM];
    for i in 0..ds.len() {
        for (j, v) in ds.features(i).iter().enumerate() {
            var[j] += (f64::from(*v) - mean[j]).powi(2) / n;
        }
    }
    (
        mean.iter().map(|m| *m as f32).collect(),
        var.iter().map(|v| v.sqrt().max(1e-3) as f32).collect(),
    )
}

/// Per-appliance energy scale: the mean energy of its on-intervals (so targets are ~0..2).
fn target_scale(ds: &Dataset) -> Vec<f32> {
    let t = thresholds();
    (0..PREDICTED.len())
        .map(|a| {
            let (mut s, mut n) = (0f64, 0usize);
            for i in 0..ds.len() {
                let v = ds.truth(i, a);
                if v >= t[a] {
                    s += f64::from(v);
                    n += 1;
                }
            }
            if n == 0 { t[a] } else { (s / n as f64) as f32 }
        })
        .collect()
}

/// Numerically stable binary cross-entropy with logits, averaged.
fn bce_with_logits(logits: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let pos = logits.relu()?;
    let soft = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((pos - (logits * target)?)? + soft)?.mean_all()
}

/// Trains a model on `ds` (already simulated).
pub fn train_on(
    config: &TrainConfig,
    ds: &Dataset,
    mut progress: impl FnMut(Progress),
) -> Result<Disaggregator, DisaggError> {
    if ds.is_empty() {
        return Err(DisaggError::Input("no training data".into()));
    }
    let a = PREDICTED.len();
    let (mean, std) = standardisation(ds);
    let scale = target_scale(ds);
    let t = thresholds();
    let mut rng = SplitMix64(config.seed);
    let [h1, h2] = config.hidden;
    let (body, w1, b1, w2, b2) = match config.architecture {
        Architecture::Mlp => {
            let (l1, w1, b1) = layer(&mut rng, DIM, h1)?;
            let (l2, w2, b2) = layer(&mut rng, h1, h2)?;
            (Body::Mlp { l1, l2 }, w1, b1, w2, b2)
        }
        Architecture::Cnn => {
            let (c1, w1, b1) = conv(&mut rng, DIM, h1, 1)?;
            let (c2, w2, b2) = conv(&mut rng, h1, h2, 2)?;
            (Body::Cnn { c1, c2 }, w1, b1, w2, b2)
        }
    };
    let (le, we, be) = layer(&mut rng, h2, a)?;
    let (ls, ws, bs) = layer(&mut rng, h2, a)?;
    let layers = Layers {
        body,
        energy: le,
        state: ls,
    };
    let mut opt = AdamW::new(
        vec![w1, b1, w2, b2, we, be, ws, bs],
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    // Standardised inputs and scaled targets, once.
    let n = ds.len();
    let mut xs = Vec::with_capacity(n * DIM);
    for i in 0..n {
        for (j, v) in ds.features(i).iter().enumerate() {
            xs.push((v - mean[j]) / std[j]);
        }
    }
    let mut ys = Vec::with_capacity(n * a);
    let mut on = Vec::with_capacity(n * a);
    for i in 0..n {
        for k in 0..a {
            let v = ds.truth(i, k);
            ys.push(v / scale[k]);
            on.push(if v >= t[k] { 1f32 } else { 0f32 });
        }
    }
    // The MLP shuffles intervals; the CNN whole days (batch / 128 of them per step), which it
    // reads as sequences.
    let (unit, per_batch) = match config.architecture {
        Architecture::Mlp => (1, config.batch),
        Architecture::Cnn => (PER_DAY, (config.batch / 128).max(1)),
    };
    let mut order: Vec<u32> = (0..(n / unit) as u32).collect();
    let mut last = f64::NAN;
    for epoch in 0..config.epochs {
        rng.shuffle(&mut order);
        let (mut sum, mut batches) = (0f64, 0usize);
        for chunk in order.chunks(per_batch) {
            let m = chunk.len() * unit;
            let mut bx = Vec::with_capacity(m * DIM);
            let mut by = Vec::with_capacity(m * a);
            let mut bo = Vec::with_capacity(m * a);
            for &u in chunk {
                let (from, to) = (u as usize * unit, (u as usize + 1) * unit);
                bx.extend_from_slice(&xs[from * DIM..to * DIM]);
                by.extend_from_slice(&ys[from * a..to * a]);
                bo.extend_from_slice(&on[from * a..to * a]);
            }
            let bx = Tensor::from_vec(bx, (m, DIM), &Device::Cpu)?;
            let by = Tensor::from_vec(by, (m, a), &Device::Cpu)?;
            let bo = Tensor::from_vec(bo, (m, a), &Device::Cpu)?;
            let (energy, logits) = layers.forward(&bx, unit)?;
            let loss = (candle_nn::loss::mse(&energy, &by)? + bce_with_logits(&logits, &bo)?)?;
            opt.backward_step(&loss)?;
            sum += f64::from(loss.to_scalar::<f32>()?);
            batches += 1;
        }
        last = sum / batches.max(1) as f64;
        progress(Progress::Epoch {
            epoch: epoch + 1,
            epochs: config.epochs,
            loss: last,
        });
    }
    let meta = ModelMeta {
        architecture: config.architecture,
        version: config.version.clone(),
        features: names(),
        feature_mean: mean,
        feature_std: std,
        appliances: PREDICTED.iter().map(|a| a.name().to_string()).collect(),
        target_scale: scale,
        on_threshold_wh: t,
        hidden: config.hidden,
        training: serde_json::json!({
            "config": config,
            "intervals": n,
            "households": ds.households.len(),
            "final_loss": last,
        }),
        day_calibration: Vec::new(),
    };
    Ok(Disaggregator { meta, layers })
}

/// Simulates the configured training set, trains on it and calibrates the per-day
/// probabilities on held-out simulator days.
pub fn train(
    config: &TrainConfig,
    mut progress: impl FnMut(Progress),
) -> Result<(Disaggregator, Dataset), DisaggError> {
    let ds = build(&config.selection(), |done, total| {
        progress(Progress::Simulating { done, total })
    })?;
    let mut model = train_on(config, &ds, &mut progress)?;
    let held_out = build(&calibration_selection(), |done, total| {
        progress(Progress::Simulating { done, total })
    })?;
    model.meta.day_calibration = fit_day_calibration(&model, &held_out)?;
    Ok((model, ds))
}

/// Held-out simulator days for calibration: another seed, other households and weeks than
/// training and both test sets; the days as simulated (no randomisation).
pub fn calibration_selection() -> Selection {
    Selection {
        seed: 7,
        households: 20_000..20_030,
        archetypes: Some(Archetype::ALL.to_vec()),
        weeks: spread_weeks(days_from_civil(2020, 1, 13), 4, 5),
        augment: None,
    }
}

/// Fits, per appliance, Platt scaling `σ(a·logit(p) + b)` of the day's most probable interval
/// `p` to whether the appliance ran that day, over the owners' days of `ds` (logistic
/// regression by Newton's method; deterministic).
pub fn fit_day_calibration(
    model: &Disaggregator,
    ds: &Dataset,
) -> Result<Vec<[f32; 2]>, DisaggError> {
    let a = PREDICTED.len();
    let t = &model.meta.on_threshold_wh;
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); a];
    for (start, rows) in ds.days() {
        let est = model.predict(&rows)?;
        for (k, s) in samples.iter_mut().enumerate() {
            if !ds.owns(start, k) {
                continue;
            }
            let p = est
                .iter()
                .map(|e| f64::from(e[k].on_probability))
                .fold(0.0, f64::max);
            let ran = (0..rows.len()).any(|i| ds.truth(start + i, k) >= t[k]);
            s.push((logit(p), f64::from(u8::from(ran))));
        }
    }
    Ok(samples.iter().map(|s| platt_fit(s)).collect())
}

/// Weight of the prior that a model is calibrated (in samples' worth of log-likelihood).
const RIDGE: f64 = 10.0;

/// Logistic regression of y on (z, 1) by Newton's method from the identity (1, 0), with a
/// ridge towards it.
fn platt_fit(samples: &[(f64, f64)]) -> [f32; 2] {
    let (mut a, mut b) = (1.0f64, 0.0f64);
    if samples.is_empty() {
        return [1.0, 0.0];
    }
    for _ in 0..100 {
        // A ridge towards the identity keeps separable appliances (a heat pump that runs every
        // winter day) finite.
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) =
            (RIDGE * (a - 1.0), RIDGE * b, RIDGE, 0.0, RIDGE);
        for &(z, y) in samples {
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let w = p * (1.0 - p);
            ga += (p - y) * z;
            gb += p - y;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-10 {
            break;
        }
    }
    [a as f32, b as f32]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::platt;

    /// Both architectures survive a save and a load unchanged; the CNN's estimate of an
    /// interval depends on its neighbours' features and the MLP's does not.
    #[test]
    fn models_round_trip_through_their_files_and_only_the_cnn_looks_at_neighbours() {
        let sel = Selection {
            seed: 3,
            households: 0..1,
            archetypes: None,
            weeks: vec![days_from_civil(2020, 3, 2)],
            augment: None,
        };
        let ds = build(&sel, |_, _| {}).unwrap();
        let dir = std::env::temp_dir().join(format!("zeal-arch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for architecture in [Architecture::Mlp, Architecture::Cnn] {
            let config = TrainConfig {
                epochs: 1,
                hidden: [8, 4],
                architecture,
                ..TrainConfig::default()
            };
            let model = train_on(&config, &ds, |_| {}).unwrap();
            let stem = dir.join(format!("{architecture:?}"));
            model.save(&stem).unwrap();
            let loaded = Disaggregator::load(&stem).unwrap();
            assert_eq!(loaded.meta.architecture, architecture);
            let day: Vec<[f32; DIM]> = (0..PER_DAY)
                .map(|i| ds.features(i).try_into().unwrap())
                .collect();
            let before = model.predict(&day).unwrap();
            assert_eq!(loaded.predict(&day).unwrap(), before);
            let mut changed = day.clone();
            changed[41] = changed[41].map(|v| v * 3.0 + 1.0);
            let after = model.predict(&changed).unwrap();
            let moved = before[40] != after[40];
            assert_eq!(moved, architecture == Architecture::Cnn, "{architecture:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn platt_fitting_recovers_a_known_miscalibration_and_leaves_a_calibrated_one_alone() {
        // Days whose true ran-probability is σ(0.5·logit(p) + 1): an under-confident model.
        let mut rng = SplitMix64(11);
        let draw = |rng: &mut SplitMix64, a: f64, b: f64| -> Vec<(f64, f64)> {
            (0..20_000)
                .map(|_| {
                    let p = rng.unit().clamp(0.01, 0.99);
                    let y = rng.unit() < platt(a, b, p);
                    (logit(p), f64::from(u8::from(y)))
                })
                .collect()
        };
        let [a, b] = platt_fit(&draw(&mut rng, 0.5, 1.0));
        assert!(
            (f64::from(a) - 0.5).abs() < 0.05 && (f64::from(b) - 1.0).abs() < 0.08,
            "{a} {b}"
        );
        let [a, b] = platt_fit(&draw(&mut rng, 1.0, 0.0));
        assert!(
            (f64::from(a) - 1.0).abs() < 0.08 && f64::from(b).abs() < 0.08,
            "{a} {b}"
        );
        assert_eq!(platt_fit(&[]), [1.0, 0.0]);
        // Separable days (it always ran, and the model always said so) stay finite.
        let [a, b] = platt_fit(&vec![(logit(0.99), 1.0); 500]);
        assert!(
            a.is_finite() && b.is_finite() && a.abs() < 10.0 && b.abs() < 10.0,
            "{a} {b}"
        );
    }
}
