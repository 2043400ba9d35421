//! Reading a PyTorch VGG state dict into conv / batch-norm / linear layers,
//! by the key layout both the PrivateSNN code and torchvision use:
//! `features.{i}.*` (convs, batch norms) and `classifier.{i}.*` (linears).

use std::collections::BTreeMap;

use super::fold::BatchNorm;

/// One tensor as host numbers.
#[derive(Clone, Debug)]
pub struct Raw {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
}

/// A conv of `features`, with the batch norm that follows it, if any.
#[derive(Debug)]
pub struct ConvLayer {
    /// `features.{i}`.
    pub key: String,
    /// `[out, in, kh, kw]`.
    pub weight: Raw,
    /// `[out]`.
    pub bias: Option<Raw>,
    /// The batch norm right after it (`features.{i+1}`), and its key.
    pub bn: Option<(String, BatchNorm)>,
}

/// A linear layer of `classifier`.
#[derive(Debug)]
pub struct LinearLayer {
    /// `classifier.{i}`.
    pub key: String,
    /// `[out, in]` (PyTorch's layout).
    pub weight: Raw,
    /// `[out]`.
    pub bias: Option<Raw>,
}

/// The layers of a VGG state dict, in order.
#[derive(Debug)]
pub struct StateDict {
    /// The convs of `features`.
    pub convs: Vec<ConvLayer>,
    /// The linears of `classifier`.
    pub linears: Vec<LinearLayer>,
}

impl StateDict {
    /// Whether any layer has a bias or a batch norm.
    pub fn has_bias(&self) -> bool {
        self.convs
            .iter()
            .any(|c| c.bias.is_some() || c.bn.is_some())
            || self.linears.iter().any(|l| l.bias.is_some())
    }
}

type Group = BTreeMap<String, Raw>;

fn take(group: &mut Group, key: &str, param: &str, rank: usize) -> Result<Raw, String> {
    let raw = group
        .remove(param)
        .ok_or_else(|| format!("`{key}.{param}` is missing"))?;
    if raw.shape.len() != rank {
        return Err(format!(
            "`{key}.{param}` has shape {:?}, expected {rank} dimensions",
            raw.shape
        ));
    }
    Ok(raw)
}

fn per_channel(raw: Raw, key: &str, param: &str, out: usize) -> Result<Vec<f32>, String> {
    if raw.shape != [out] {
        return Err(format!(
            "`{key}.{param}` has shape {:?}, expected [{out}] (one per channel of the conv before it)",
            raw.shape
        ));
    }
    Ok(raw.data)
}

/// Group `tensors` by layer and read them as convs, batch norms and linears.
pub fn parse(tensors: BTreeMap<String, Raw>, bn_eps: f64) -> Result<StateDict, String> {
    let mut sections: BTreeMap<(&'static str, usize), Group> = BTreeMap::new();
    for (name, raw) in tensors {
        let mut parts = name.splitn(3, '.');
        let (section, index, param) = (parts.next(), parts.next(), parts.next());
        let section = match section {
            Some("features") => "features",
            Some("classifier") => "classifier",
            _ => {
                return Err(format!(
                    "tensor `{name}` is outside `features.*` and `classifier.*`, the VGG layout \
                     of the PrivateSNN code and torchvision (a checkpoint that nests the state \
                     dict under a key needs that key: --key)"
                ));
            }
        };
        let (Some(index), Some(param)) = (index.and_then(|i| i.parse().ok()), param) else {
            return Err(format!(
                "tensor `{name}`: expected `{section}.<index>.<parameter>`"
            ));
        };
        sections
            .entry((section, index))
            .or_default()
            .insert(param.to_string(), raw);
    }
    let mut convs: Vec<ConvLayer> = Vec::new();
    let mut linears = Vec::new();
    for ((section, index), mut group) in sections {
        let key = format!("{section}.{index}");
        if section == "features" && group.contains_key("running_mean") {
            let conv = convs
                .last_mut()
                .filter(|c| c.bn.is_none())
                .ok_or_else(|| format!("batch norm `{key}` does not follow a conv"))?;
            let out = conv.weight.shape[0];
            let bn = BatchNorm {
                gamma: per_channel(take(&mut group, &key, "weight", 1)?, &key, "weight", out)?,
                beta: per_channel(take(&mut group, &key, "bias", 1)?, &key, "bias", out)?,
                mean: per_channel(
                    take(&mut group, &key, "running_mean", 1)?,
                    &key,
                    "running_mean",
                    out,
                )?,
                var: per_channel(
                    take(&mut group, &key, "running_var", 1)?,
                    &key,
                    "running_var",
                    out,
                )?,
                eps: bn_eps,
            };
            if bn.var.iter().any(|v| v.is_nan() || *v < 0.0) {
                return Err(format!(
                    "`{key}.running_var` holds a negative or NaN variance"
                ));
            }
            conv.bn = Some((key.clone(), bn));
        } else if section == "features" {
            let weight = take(&mut group, &key, "weight", 4)?;
            let bias = group.remove("bias");
            convs.push(ConvLayer {
                key: key.clone(),
                weight,
                bias,
                bn: None,
            });
        } else {
            let weight = take(&mut group, &key, "weight", 2)?;
            let bias = group.remove("bias");
            linears.push(LinearLayer {
                key: key.clone(),
                weight,
                bias,
            });
        }
        if let Some(extra) = group.keys().next() {
            return Err(format!(
                "`{key}.{extra}` is not a parameter of a conv, batch norm or linear layer"
            ));
        }
    }
    for (key, bias, out) in convs
        .iter()
        .map(|c| (&c.key, &c.bias, c.weight.shape[0]))
        .chain(linears.iter().map(|l| (&l.key, &l.bias, l.weight.shape[0])))
    {
        if let Some(b) = bias
            && b.shape != [out]
        {
            return Err(format!(
                "`{key}.bias` has shape {:?}, expected [{out}]",
                b.shape
            ));
        }
    }
    if convs.is_empty() {
        return Err("no conv layer (`features.<i>.weight` with 4 dimensions)".into());
    }
    if linears.len() < 2 {
        return Err(format!(
            "{} linear layer(s) in `classifier`; a VGG has at least two",
            linears.len()
        ));
    }
    Ok(StateDict { convs, linears })
}
