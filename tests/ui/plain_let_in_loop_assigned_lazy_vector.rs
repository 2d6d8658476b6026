use taskdag::{delayed, graph, Runtime};

#[delayed]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let rt = Runtime::new(1).unwrap();
    let data = vec![1, 2, 3, 4];
    let _ = rt.compute(graph! {
        for _ in 0..2 {
            let mut l = &data;
            while l.len() > 1 {
                let mut next = Vec::new();
                for i in (0..l.len()).step_by(2) {
                    next.push(add(l[i], l[i + 1]));
                }
                l = next;
            }
        }
        add(1, 2)
    });
}
