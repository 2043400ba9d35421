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
        let corner = legend_corner(
            series,
            reference,
            (0.0, x1 * 1.05),
            ((y0 - pad).max(0.0), (y1 + pad).min(100.0)),
            (w, h),
        );
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    save_rgb(path, &rgb, w, h)
}

/// The legend corner that hides the fewest plotted points of the chart
/// (`x`, `y` its ranges, `size` the image's pixels): every line is sampled
/// along its segments, the reference line across the chart; the legend's box
/// is estimated from its entries. Lower right first when corners tie.
fn legend_corner(
    series: &[Series],
    reference: Option<(&str, f64)>,
    x: (f64, f64),
    y: (f64, f64),
    size: (usize, usize),
) -> SeriesLabelPosition {
    // The plot area of `line_plot`'s layout, and the legend's box in pixels:
    // a 20-pixel row per entry, the sample line and the label's characters.
    let area = (
        (size.0 as f64 - 105.0).max(1.0),
        (size.1 as f64 - 120.0).max(1.0),
    );
    let names = series
        .iter()
        .map(|s| s.name.as_str())
        .chain(reference.map(|r| r.0));
    let (entries, chars) = names.fold((0usize, 0usize), |(n, c), name| {
        (n + 1, c.max(name.chars().count()))
    });
    let (bw, bh) = (
        (40.0 + 7.0 * chars as f64) / area.0,
        (10.0 + 20.0 * entries as f64) / area.1,
    );
    // Every point in the chart's unit square, segments sampled every 1%.
    let unit = |(px, py): (f64, f64)| ((px - x.0) / (x.1 - x.0), (py - y.0) / (y.1 - y.0));
    let mut samples = Vec::new();
    for s in series {
        for w in s.points.windows(2) {
            for k in 0..=100 {
                let f = k as f64 / 100.0;
                samples.push(unit((
                    w[0].0 + f * (w[1].0 - w[0].0),
                    w[0].1 + f * (w[1].1 - w[0].1),
                )));
            }
        }
        samples.extend(s.points.iter().map(|&p| unit(p)));
    }
    if let Some((_, r)) = reference {
        samples.extend((0..=100).map(|k| unit((x.0 + k as f64 / 100.0 * (x.1 - x.0), r))));
    }
    let corners = [
        (SeriesLabelPosition::LowerRight, (1.0 - bw, 1.0), (0.0, bh)),
        (
            SeriesLabelPosition::UpperRight,
            (1.0 - bw, 1.0),
            (1.0 - bh, 1.0),
        ),
        (SeriesLabelPosition::LowerLeft, (0.0, bw), (0.0, bh)),
        (SeriesLabelPosition::UpperLeft, (0.0, bw), (1.0 - bh, 1.0)),
    ];
    let hidden = |(bx, by): ((f64, f64), (f64, f64))| {
        samples
            .iter()
            .filter(|(u, v)| (bx.0..=bx.1).contains(u) && (by.0..=by.1).contains(v))
            .count()
    };
    let mut best = (usize::MAX, SeriesLabelPosition::LowerRight);
    for (corner, bx, by) in corners {
        let n = hidden((bx, by));
        if n < best.0 {
            best = (n, corner);
        }
    }
    best.1
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

    fn corner_name(c: SeriesLabelPosition) -> &'static str {
        match c {
            SeriesLabelPosition::LowerRight => "lower right",
            SeriesLabelPosition::UpperRight => "upper right",
            SeriesLabelPosition::LowerLeft => "lower left",
            SeriesLabelPosition::UpperLeft => "upper left",
            _ => "other",
        }
    }

    /// The legend goes where it hides nothing: the encryption sweep's points
    /// (a line falling to the lower right, which the old fixed corner hid)
    /// put it lower left; a rising line lower right; a line along the bottom
    /// upper right.
    #[test]
    fn legend_avoids_the_plotted_points() {
        let line = |points: Vec<(f64, f64)>| Series {
            name: "encrypted, without distillation (m = 0)".into(),
            points,
        };
        let sweep = [
            Series {
                name: "encrypted, with distillation (m = 0.7)".into(),
                points: vec![(25.0, 85.0), (50.0, 84.7), (100.0, 80.3)],
            },
            line(vec![(25.0, 84.3), (50.0, 83.7), (100.0, 61.7)]),
        ];
        let reference = Some(("converted SNN, no encryption", 78.7));
        let at = |series: &[Series], y: (f64, f64)| {
            corner_name(legend_corner(
                series,
                reference,
                (0.0, 105.0),
                y,
                (800, 500),
            ))
        };
        assert_eq!(at(&sweep, (59.4, 87.3)), "lower left");
        let rising = [line(vec![(0.0, 10.0), (100.0, 90.0)])];
        assert_eq!(at(&rising, (0.0, 100.0)), "lower right");
        let bottom = [line(vec![(0.0, 2.0), (100.0, 3.0)])];
        assert_eq!(at(&bottom, (0.0, 100.0)), "upper right");
    }
}
