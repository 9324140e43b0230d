//! Writes an Identity chain, the graph behind the pass-scaling benchmark
//! (benchmarks/2026-12-03-pass-scaling.md): `x → Neg → Identity × N → Relu → y`, float `[1, 4]`.
//!
//! Usage: `cargo run --release --example identity_chain -- N OUT.onnx`, then time
//! `squeezebench rewrite OUT.onnx -o rewritten.onnx --passes default`.

use squeezebench::onnx::builder::{Axis, GraphBuilder};
use squeezebench::onnx::{DataType, SaveOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(n), Some(out)) = (args.first().and_then(|n| n.parse::<usize>().ok()), args.get(1)) else {
        eprintln!("usage: cargo run --release --example identity_chain -- N OUT.onnx");
        std::process::exit(2);
    };
    let shape = [Axis::Fixed(1), Axis::Fixed(4)];
    let mut b = GraphBuilder::new("identity_chain");
    b.input("x", DataType::Float, &shape);
    let mut v = b.node("Neg", &["x"], &[]);
    for _ in 0..n {
        v = b.node("Identity", &[&v], &[]);
    }
    b.node_to("Relu", &[&v], &[], "y");
    b.output("y", DataType::Float, &shape);
    let model = b.finish(17, "identity_chain", "");
    model.save(std::path::Path::new(out), &SaveOptions { force: true, ..Default::default() })?;
    eprintln!("wrote {out}: {} nodes", n + 2);
    Ok(())
}
