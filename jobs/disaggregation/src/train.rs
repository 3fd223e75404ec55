//! Seeded training on simulator data. Weights are initialised and batches shuffled from our
//! own seeded generator (Candle's CPU generator cannot be seeded), so the same configuration
//! gives the same model.

use crate::DisaggError;
use crate::appliances::PREDICTED;
use crate::dataset::{Dataset, Selection, build, spread_weeks};
use crate::features::{DIM, names};
use crate::model::{Disaggregator, Layers, ModelMeta, thresholds};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};
use zeal_civil::days_from_civil;

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
            version: "disagg-v1".into(),
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

/// A small seeded generator (SplitMix64) for initialisation and shuffling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// A layer with uniform ±sqrt(6 / (in + out)) weights (Glorot) and zero biases.
fn layer(rng: &mut Rng, inp: usize, out: usize) -> Result<(Linear, Var, Var), DisaggError> {
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
    let mut rng = Rng(config.seed);
    let [h1, h2] = config.hidden;
    let (l1, w1, b1) = layer(&mut rng, DIM, h1)?;
    let (l2, w2, b2) = layer(&mut rng, h1, h2)?;
    let (le, we, be) = layer(&mut rng, h2, a)?;
    let (ls, ws, bs) = layer(&mut rng, h2, a)?;
    let layers = Layers {
        l1,
        l2,
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
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut last = f64::NAN;
    for epoch in 0..config.epochs {
        rng.shuffle(&mut order);
        let (mut sum, mut batches) = (0f64, 0usize);
        for chunk in order.chunks(config.batch) {
            let m = chunk.len();
            let mut bx = Vec::with_capacity(m * DIM);
            let mut by = Vec::with_capacity(m * a);
            let mut bo = Vec::with_capacity(m * a);
            for &i in chunk {
                let i = i as usize;
                bx.extend_from_slice(&xs[i * DIM..(i + 1) * DIM]);
                by.extend_from_slice(&ys[i * a..(i + 1) * a]);
                bo.extend_from_slice(&on[i * a..(i + 1) * a]);
            }
            let bx = Tensor::from_vec(bx, (m, DIM), &Device::Cpu)?;
            let by = Tensor::from_vec(by, (m, a), &Device::Cpu)?;
            let bo = Tensor::from_vec(bo, (m, a), &Device::Cpu)?;
            let (energy, logits) = layers.forward(&bx)?;
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
    };
    Ok(Disaggregator { meta, layers })
}

/// Simulates the configured training set and trains on it.
pub fn train(
    config: &TrainConfig,
    mut progress: impl FnMut(Progress),
) -> Result<(Disaggregator, Dataset), DisaggError> {
    let ds = build(&config.selection(), |done, total| {
        progress(Progress::Simulating { done, total })
    })?;
    let model = train_on(config, &ds, progress)?;
    Ok((model, ds))
}
