//! PNG line plots (plotters, bitmap backend, the DejaVu font bundled by the
//! `dejavu` crate so that no system font is needed).

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;

static FONT: Once = Once::new();

pub(crate) fn register_font() {
    FONT.call_once(|| {
        // The only failure is an invalid font, which the bundled one is not.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// One named line.
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// Draw `series` (and an optional horizontal reference line) to a PNG.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    reference: Option<(&str, f64)>,
) -> Result<()> {
    register_font();
    let err = |e: &dyn std::fmt::Display| anyhow!("plotting {}: {e}", path.display());
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(reference.map(|r| r.1));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !(x0.is_finite() && y0.is_finite()) {
        return Err(anyhow!("plotting {}: no points", path.display()));
    }
    let pad = ((y1 - y0) * 0.1).max(1.0);
    let (w, h) = (800usize, 500usize);
    let mut rgb = vec![0u8; 3 * w * h];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w as u32, h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x1 * 1.05, (y0 - pad).max(0.0)..(y1 + pad).min(100.0))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(|e| err(&e))?;
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN];
        for (i, s) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            chart
                .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| err(&e))?;
        }
        if let Some((name, y)) = reference {
            // Dashed, as the paper draws its baselines.
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, y), (x1 * 1.05, y)],
                    8,
                    6,
                    BLACK.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(name.to_string())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    save_rgb(path, &rgb, w, h)
}

/// Interleaved RGB → planes, written atomically as PNG.
pub(crate) fn save_rgb(path: &Path, rgb: &[u8], w: usize, h: usize) -> Result<()> {
    let mut chw = vec![0u8; 3 * w * h];
    for p in 0..w * h {
        for c in 0..3 {
            chw[c * w * h + p] = rgb[3 * p + c];
        }
    }
    privatesnn_data::save_png(path, &chw, 3, h, w)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.png");
        let s = Series {
            name: "a".into(),
            points: vec![(25.0, 50.0), (100.0, 80.0)],
        };
        line_plot(&p, "t", "T", "acc", &[s], Some(("ANN", 90.0))).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(line_plot(&p, "t", "T", "acc", &[], None).is_err());
    }
}
