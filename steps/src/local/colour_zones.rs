//! Where each of a product's colours lies: the point deepest inside its thickest patch,
//! so a flat's callout about a colour points at a place that is that colour, not at an edge
//! where it blends into the next.

/// For each of `count` colours, the pixel (x, y) of a `width` x `height` picture that lies
/// farthest from any pixel of another colour (or of no colour, or the picture's edge), given
/// each pixel's colour index in `zones` (`None` for backdrop and for colours not reported).
/// `None` for a colour no pixel has. Ties go to the first pixel in reading order, so the
/// same picture always gives the same points.
pub fn deepest_points(
    zones: &[Option<usize>],
    width: usize,
    height: usize,
    count: usize,
) -> Vec<Option<(usize, usize)>> {
    (0..count)
        .map(|colour| {
            let inside: Vec<bool> = zones.iter().map(|z| *z == Some(colour)).collect();
            deepest(&inside, width, height)
        })
        .collect()
}

/// The pixel of `inside` farthest, in chessboard steps, from the nearest pixel outside it,
/// by the two-pass distance transform.
fn deepest(inside: &[bool], width: usize, height: usize) -> Option<(usize, usize)> {
    if width == 0 || height == 0 {
        return None;
    }
    let mut distance: Vec<u32> = inside.iter().map(|&i| u32::from(i)).collect();
    // Forward pass: from the upper and left neighbours; pixels on the picture's edge stay 1.
    for y in 0..height {
        for x in 0..width {
            let here = y * width + x;
            if distance[here] == 0 {
                continue;
            }
            let mut best = if x == 0 || y == 0 { 1 } else { u32::MAX };
            if x > 0 && y > 0 {
                for n in [here - 1, here - width, here - width - 1] {
                    best = best.min(distance[n] + 1);
                }
                if x + 1 < width {
                    best = best.min(distance[here - width + 1] + 1);
                }
            }
            distance[here] = best;
        }
    }
    // Backward pass: from the lower and right neighbours.
    for y in (0..height).rev() {
        for x in (0..width).rev() {
            let here = y * width + x;
            if distance[here] == 0 {
                continue;
            }
            let mut best = distance[here];
            if x + 1 == width || y + 1 == height {
                best = best.min(1);
            } else {
                for n in [here + 1, here + width, here + width + 1] {
                    best = best.min(distance[n] + 1);
                }
                if x > 0 {
                    best = best.min(distance[here + width - 1] + 1);
                }
            }
            distance[here] = best;
        }
    }
    let (index, &most) =
        distance.iter().enumerate().fold(
            (0, &0),
            |best, here| if here.1 > best.1 { here } else { best },
        );
    (most > 0).then_some((index % width, index / width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_point_lies_in_the_middle_of_the_larger_patch() {
        // 20 x 10: colour 0 fills a 3-wide strip at the left and a 10 x 8 block at the right;
        // colour 1 is the column between.
        let (width, height) = (20, 10);
        let zones: Vec<Option<usize>> = (0..width * height)
            .map(|i| match (i % width, i / width) {
                (x, _) if x < 3 => Some(0),
                (x, y) if x >= 9 && (1..9).contains(&y) => Some(0),
                (5, _) => Some(1),
                _ => None,
            })
            .collect();
        let points = deepest_points(&zones, width, height, 3);
        let (x, y) = points[0].unwrap();
        assert!((12..=16).contains(&x) && (3..=6).contains(&y), "{x},{y}");
        assert_eq!(points[1].unwrap().0, 5);
        assert_eq!(points[2], None, "no pixel has colour 2");
    }

    #[test]
    fn an_empty_picture_has_no_point() {
        assert_eq!(deepest_points(&[], 0, 0, 1), vec![None]);
    }
}
