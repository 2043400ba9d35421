//! Grouped bar charts on a log scale (Fig. 7: spike rate per layer and model).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::plot::{register_font, save_rgb};

/// Bars: `groups[g]` on the x axis, one bar per series in each group;
/// `values[s][g]` (> 0; zeros are drawn as missing) on a log y axis.
pub fn log_bars(
    path: &Path,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<()> {
    register_font();
    let err = |e: &dyn std::fmt::Display| anyhow!("plotting {}: {e}", path.display());
    let positive = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| *v > 0.0 && v.is_finite());
    let (lo, hi) = positive.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || groups.is_empty() {
        return Err(anyhow!("plotting {}: no positive values", path.display()));
    }
    let (y0, y1) = (lo / 2.0, hi * 2.0);
    let (w, h) = (900usize, 500usize);
    let mut rgb = vec![0u8; 3 * w * h];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w as u32, h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let n = groups.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, (y0..y1).log_scale())
            .map_err(|e| err(&e))?;
        let names = groups.to_vec();
        chart
            .configure_mesh()
            .x_labels(2 * n)
            .x_label_formatter(&|x| {
                // Group g is centred on x = g; other ticks stay unlabelled.
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                names.get(i as usize).cloned().unwrap_or_default()
            })
            .y_desc(y_label)
            .disable_x_mesh()
            .draw()
            .map_err(|e| err(&e))?;
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN];
        let k = series.len().max(1) as f64;
        for (si, (name, values)) in series.iter().enumerate() {
            let color = colors[si % colors.len()];
            let bars = values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(g, &v)| {
                    let x0 = g as f64 - 0.4 + 0.8 * si as f64 / k;
                    Rectangle::new([(x0, y0), (x0 + 0.8 / k, v)], color.filled())
                });
            chart
                .draw_series(bars)
                .map_err(|e| err(&e))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    save_rgb(path, &rgb, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_bar_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.png");
        let groups: Vec<String> = ["in", "conv1", "fc1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let series = vec![
            ("a".to_string(), vec![0.5, 0.05, 0.0]),
            ("b".to_string(), vec![0.4, 0.01, 0.2]),
        ];
        log_bars(&p, "t", "rate", &groups, &series).unwrap();
        assert!(std::fs::read(&p).unwrap().starts_with(b"\x89PNG"));
        assert!(log_bars(&p, "t", "rate", &groups, &[("z".into(), vec![0.0; 3])]).is_err());
    }
}
