//! Draws the bundled sample product photo: `cargo run -p techpack-steps --example draw_sample -- OUT.png`.

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "workflows/samples/sample-product.png".into());
    let image = techpack_steps::local::draw_sample_product(1024, 1024);
    let png = techpack_steps::local::encode_png(&image).expect("encode");
    std::fs::write(&out, png).expect("write");
    println!("wrote {out}");
}
