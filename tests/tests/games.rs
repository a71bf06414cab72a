//! The games against closed forms and PyTorch (`tests/reference/games_reference.py` wrote
//! `tests/fixtures/games_reference.json` in float64). Tolerance for float64 against PyTorch:
//! |x − y| ≤ 1e-12 + 1e-10·|y|.

use ganlab_games::{
    clip_parameters, game_by_name, Game, GameOptions, GeneratorPass, StepContext, WganGp,
};
use ganlab_tests::{assert_close, read_fixture};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

fn f64s(v: &Value) -> Tensor {
    let values: Vec<f64> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect();
    Tensor::from_slice(&values)
}

/// The logits act as the critic's output: D is the identity on them.
fn d_loss_and_grads(game: &dyn Game, real: &Tensor, fake: &Tensor) -> (f64, Tensor, Tensor) {
    let real = real.detach().set_requires_grad(true);
    let fake = fake.detach().set_requires_grad(true);
    let out = game.d_loss(
        &mut |x: &Tensor| x.shallow_clone(),
        &real,
        &fake,
        StepContext::default(),
    );
    let grads = Tensor::run_backward(&[&out.loss], &[&real, &fake], false, false);
    (
        out.loss.double_value(&[]),
        grads[0].shallow_clone(),
        grads[1].shallow_clone(),
    )
}

/// G's loss on the fake logits (and, for a relativistic game, the real logits it pairs them
/// with), as the training loop asks for it.
fn g_loss_and_grad(game: &dyn Game, fake: &Tensor, real: &Tensor) -> (f64, Tensor) {
    let fake = fake.detach().set_requires_grad(true);
    let real_logits = game.needs_real_logits().then(|| real.detach());
    let out = game
        .generator_loss(&GeneratorPass {
            fake_logits: &fake,
            fake: &fake,
            z: &fake,
            real_logits: real_logits.as_ref(),
            ctx: StepContext::default(),
        })
        .expect("generator loss");
    let grads = Tensor::run_backward(&[&out.loss], &[&fake], false, false);
    (out.loss.double_value(&[]), grads[0].shallow_clone())
}

#[test]
fn every_loss_and_its_gradient_equal_pytorch() {
    let fx = read_fixture("games_reference.json");
    let real = f64s(&fx["real_logits"]);
    let fake = f64s(&fx["fake_logits"]);
    let (atol, rtol) = (1e-12, 1e-10);
    for name in [
        "nonsaturating",
        "minimax",
        "wgan",
        "lsgan",
        "hinge",
        "relativistic",
    ] {
        for smoothing in [0.0, 0.1] {
            let key = format!("d_smoothing_{smoothing:?}");
            let expected = &fx["cases"][name][&key];
            let logistic = matches!(name, "nonsaturating" | "minimax");
            if !logistic && smoothing > 0.0 {
                continue;
            }
            let game = game_by_name(
                name,
                GameOptions {
                    label_smoothing: smoothing,
                    ..Default::default()
                },
            )
            .expect("game");
            let (loss, grad_real, grad_fake) = d_loss_and_grads(game.as_ref(), &real, &fake);
            let what = format!("{name} D loss ({key})");
            assert!(
                (loss - expected["loss"].as_f64().expect("f64")).abs() <= atol + rtol * loss.abs(),
                "{what}: {loss} vs {}",
                expected["loss"]
            );
            assert_close(
                &grad_real,
                &f64s(&expected["grad_real"]),
                atol,
                rtol,
                &format!("{what}: d/d real"),
            );
            assert_close(
                &grad_fake,
                &f64s(&expected["grad_fake"]),
                atol,
                rtol,
                &format!("{what}: d/d fake"),
            );
        }
        let game = game_by_name(name, GameOptions::default()).expect("game");
        let expected = &fx["cases"][name]["g"];
        let (loss, grad) = g_loss_and_grad(game.as_ref(), &fake, &real);
        assert!(
            (loss - expected["loss"].as_f64().expect("f64")).abs() <= atol + rtol * loss.abs(),
            "{name} G loss"
        );
        assert_close(
            &grad,
            &f64s(&expected["grad_fake"]),
            atol,
            rtol,
            &format!("{name} G grad"),
        );
    }
}

#[test]
fn losses_stay_finite_for_extreme_logits() {
    // The softplus forms never take log(0): logits of ±1000 give finite losses and gradients.
    let real = Tensor::from_slice(&[1000.0f32, -1000.0]);
    let fake = Tensor::from_slice(&[-1000.0f32, 1000.0]);
    for name in ["nonsaturating", "minimax", "relativistic"] {
        let game = game_by_name(name, GameOptions::default()).expect("game");
        let (loss, gr, gf) = d_loss_and_grads(game.as_ref(), &real, &fake);
        // Each half: mean(softplus(0 or 1000)) = 500; relativistic: mean(softplus(−2000 or
        // 2000)) = 1000.
        assert!(
            loss.is_finite() && (loss - 1000.0).abs() < 1e-3,
            "{name}: {loss}"
        );
        assert!(
            bool::try_from(gr.isfinite().all()).expect("bool")
                && bool::try_from(gf.isfinite().all()).expect("bool")
        );
        let (g_loss, g_grad) = g_loss_and_grad(game.as_ref(), &fake, &real);
        assert!(
            g_loss.is_finite() && bool::try_from(g_grad.isfinite().all()).expect("bool"),
            "{name} G"
        );
    }
}

/// |∂L_G/∂l| for a single fake logit l = logit(p), i.e. D(G(z)) = p.
fn generator_gradient_at(name: &str, p: f64) -> f64 {
    let logit = (p / (1.0 - p)).ln();
    let game = game_by_name(name, GameOptions::default()).expect("game");
    let (_, grad) = g_loss_and_grad(
        game.as_ref(),
        &Tensor::from_slice(&[logit]),
        &Tensor::from_slice(&[0.0]),
    );
    grad.abs().double_value(&[0])
}

#[test]
fn minimax_saturates_when_d_rejects_the_fakes_and_nonsaturating_does_not() {
    // Goodfellow et al. 2014, §3: "Early in learning, when G is poor, D can reject samples with
    // high confidence ... log(1 − D(G(z))) saturates." ∂/∂l log(1 − σ(l)) = −σ(l) → 0 while
    // ∂/∂l −log σ(l) = σ(l) − 1 → −1.
    let mm_half = generator_gradient_at("minimax", 0.5);
    let ns_half = generator_gradient_at("nonsaturating", 0.5);
    for p in [1e-4, 1e-6, 1e-9] {
        let mm = generator_gradient_at("minimax", p);
        let ns = generator_gradient_at("nonsaturating", p);
        assert!(
            mm <= 1e-3 * mm_half,
            "minimax at D = {p}: {mm} vs {mm_half} at D = 0.5"
        );
        assert!(
            ns >= ns_half,
            "nonsaturating at D = {p}: {ns} vs {ns_half} at D = 0.5"
        );
    }
}

#[test]
fn gradient_penalty_of_a_linear_critic_is_the_closed_form() {
    // D(x) = w·x has ∇ₓD = w everywhere, so the penalty is λ(‖w‖ − 1)² whatever ε is, and its
    // gradient with respect to w (through double backward) is 2λ(‖w‖ − 1)·w/‖w‖.
    let w = Tensor::from_slice(&[0.3f64, -1.2, 2.0, 0.5]).set_requires_grad(true);
    let gp = WganGp {
        options: GameOptions::default(),
    };
    let real = Tensor::randn([6, 4], (Kind::Double, Device::Cpu));
    let fake = Tensor::randn([6, 4], (Kind::Double, Device::Cpu));
    let (penalty, grad_norm) = gp.gradient_penalty(&mut |x: &Tensor| x.matmul(&w), &real, &fake);
    let norm = w.norm().double_value(&[]);
    let expected = 10.0 * (norm - 1.0).powi(2);
    assert!(
        (penalty.double_value(&[]) - expected).abs() <= 1e-12 * expected,
        "penalty {penalty} vs {expected}"
    );
    assert!((grad_norm.double_value(&[]) - norm).abs() <= 1e-12);
    let dw = Tensor::run_backward(&[&penalty], &[&w], false, false);
    let expected_dw = &w.detach() * (2.0 * 10.0 * (norm - 1.0) / norm);
    assert_close(&dw[0], &expected_dw, 1e-12, 1e-10, "d penalty / d w");
}

#[test]
fn gradient_penalty_gradient_matches_finite_differences_for_an_mlp() {
    // A 4→5→1 tanh MLP critic in float64. The penalty's gradient with respect to the first-layer
    // weights via double backward equals the central difference (h = 1e-6) to 1e-6 relative.
    let w1 = (Tensor::randn([4, 5], (Kind::Double, Device::Cpu)) * 0.7).set_requires_grad(true);
    let w2 = Tensor::randn([5], (Kind::Double, Device::Cpu)) * 0.7;
    let real = Tensor::randn([8, 4], (Kind::Double, Device::Cpu));
    let fake = Tensor::randn([8, 4], (Kind::Double, Device::Cpu));
    let gp = WganGp {
        options: GameOptions::default(),
    };
    // The same per-sample ε for every evaluation.
    let eps = Tensor::rand([8, 1], (Kind::Double, Device::Cpu));
    let penalty_at = |w: &Tensor| -> Tensor {
        gp.gradient_penalty_at(
            &mut |x: &Tensor| x.matmul(w).tanh().matmul(&w2),
            &real,
            &fake,
            &eps,
        )
        .0
    };
    let analytic =
        Tensor::run_backward(&[&penalty_at(&w1)], &[&w1], false, false)[0].shallow_clone();
    let h = 1e-6;
    for (i, j) in [(0, 0), (1, 3), (3, 4), (2, 1)] {
        let bump = |delta: f64| -> f64 {
            let w = w1.detach().copy();
            let _ = w.get(i).get(j).g_add_scalar_(delta);
            penalty_at(&w.set_requires_grad(true)).double_value(&[])
        };
        let numeric = (bump(h) - bump(-h)) / (2.0 * h);
        let exact = analytic.double_value(&[i, j]);
        assert!(
            (exact - numeric).abs() <= 1e-7 + 1e-6 * numeric.abs(),
            "w1[{i},{j}]: {exact} vs {numeric}"
        );
    }
}

#[test]
fn wgan_gp_draws_one_epsilon_per_sample() {
    // real = 0 and fake = 1 per sample, so the critic sees x̂ = 1 − ε per sample; with one ε per
    // batch every row would be equal.
    let gp = WganGp {
        options: GameOptions::default(),
    };
    let real = Tensor::zeros([16, 3], (Kind::Double, Device::Cpu));
    let fake = Tensor::ones([16, 3], (Kind::Double, Device::Cpu));
    let mut seen = Vec::new();
    let _ = gp.gradient_penalty(
        &mut |x: &Tensor| {
            seen.push(x.detach().copy());
            x.sum_dim_intlist(1, false, None::<Kind>)
        },
        &real,
        &fake,
    );
    let mixed = &seen[0];
    // Within a sample, the same ε for every coordinate.
    assert!(bool::try_from(mixed.eq_tensor(&mixed.select(1, 0).unsqueeze(1)).all()).expect("bool"));
    let first_column = mixed.select(1, 0);
    let distinct = Vec::<f64>::try_from(first_column.unique_dim(0, true, false, false).0)
        .expect("f64")
        .len();
    assert_eq!(distinct, 16, "16 samples, 16 different ε");
}

#[test]
fn clipping_puts_every_critic_parameter_in_the_box() {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _d = ganlab_layers::dcgan32_discriminator(
        &vs.root(),
        ganlab_layers::Dcgan32Config {
            width: 8,
            ..Default::default()
        },
    );
    let params = vs.trainable_variables();
    assert!(
        params
            .iter()
            .any(|p| p.abs().max().double_value(&[]) > 0.01),
        "init exceeds the box"
    );
    clip_parameters(&params, 0.01);
    for p in &params {
        assert!(p.abs().max().double_value(&[]) <= 0.01);
    }
}

#[test]
fn unknown_game_names_and_bad_options_are_errors() {
    let err = game_by_name("wgan-qp", GameOptions::default())
        .err()
        .expect("error");
    assert!(
        err.to_string().contains("unknown game `wgan-qp`") && err.to_string().contains("wgan-gp"),
        "{err}"
    );
    let err = game_by_name(
        "nonsaturating",
        GameOptions {
            label_smoothing: 0.7,
            ..Default::default()
        },
    )
    .err()
    .expect("error");
    assert!(err.to_string().contains("label_smoothing"), "{err}");
    let plan = game_by_name("wgan", GameOptions::default())
        .expect("wgan")
        .plan();
    assert_eq!((plan.critic_steps, plan.clip_weights), (5, Some(0.01)));
    let plan = game_by_name(
        "wgan-gp",
        GameOptions {
            critic_steps: Some(2),
            ..Default::default()
        },
    )
    .expect("wgan-gp")
    .plan();
    assert_eq!(plan.critic_steps, 2);
}

#[test]
fn r1_of_a_linear_critic_is_half_gamma_times_the_squared_norm_and_can_be_lazy() {
    // D(x) = w·x: ∇ₓD = w, so R1 = γ/2·‖w‖² (Mescheder et al. 2018, Eq. 9). Lazy with interval
    // k: applied on every k-th critic step, multiplied by k (Karras et al. 2020, §3.1).
    let w = Tensor::from_slice(&[0.5f64, -1.0, 2.0]);
    let real = Tensor::randn([5, 3], (Kind::Double, Device::Cpu));
    let r1 = ganlab_games::R1Penalty {
        gamma: 10.0,
        interval: 4,
    };
    let expected = 4.0 * 10.0 / 2.0 * 5.25;
    let ctx = |critic_step| StepContext {
        kimg: 0.0,
        critic_step,
        ..Default::default()
    };
    let (penalty, grad_norm) = r1
        .penalty(&mut |x: &Tensor| x.matmul(&w), &real, ctx(8))
        .expect("applied on step 8");
    assert!(
        (penalty.double_value(&[]) - expected).abs() < 1e-12,
        "{penalty}"
    );
    assert!((grad_norm.double_value(&[]) - 5.25f64.sqrt()).abs() < 1e-12);
    assert!(
        r1.penalty(&mut |x: &Tensor| x.matmul(&w), &real, ctx(9))
            .is_none(),
        "skipped on step 9"
    );
    // Through a game: the penalty is part of D's loss and logged.
    let game = game_by_name(
        "nonsaturating",
        GameOptions {
            r1_gamma: 10.0,
            ..Default::default()
        },
    )
    .expect("game");
    let fake = Tensor::randn([5, 3], (Kind::Double, Device::Cpu));
    let out = game.d_loss(&mut |x: &Tensor| x.matmul(&w), &real, &fake, ctx(0));
    let names: Vec<&str> = out.scalars.iter().map(|(n, _)| *n).collect();
    assert!(
        names.contains(&"r1_penalty") && names.contains(&"r1_grad_norm"),
        "{names:?}"
    );
}

#[test]
fn instance_noise_is_added_to_d_inputs_and_annealed_to_zero() {
    let options = GameOptions {
        instance_noise: 0.4,
        instance_noise_kimg: 10.0,
        ..Default::default()
    };
    assert_eq!(options.noise_sigma(0.0), 0.4);
    assert!((options.noise_sigma(5.0) - 0.2).abs() < 1e-12);
    assert_eq!(options.noise_sigma(10.0), 0.0);
    assert_eq!(options.noise_sigma(50.0), 0.0);
    let game = game_by_name("nonsaturating", options).expect("game");
    let real = Tensor::zeros([4000], (Kind::Double, Device::Cpu));
    let fake = Tensor::zeros([4000], (Kind::Double, Device::Cpu));
    let mut seen = Vec::new();
    let ctx = StepContext {
        kimg: 5.0,
        critic_step: 0,
        ..Default::default()
    };
    let _ = game.d_loss(
        &mut |x: &Tensor| {
            seen.push(x.copy());
            x.shallow_clone()
        },
        &real,
        &fake,
        ctx,
    );
    // D saw zeros plus N(0, 0.2²) noise: the sample std is 0.2 within 5%.
    for input in &seen {
        let std = input.std(true).double_value(&[]);
        assert!((std - 0.2).abs() < 0.01, "std of D's input {std}");
    }
}

/// The relativistic game pairs each fake with a real: its generator loss cannot be computed
/// from the fakes alone, and says so instead of scoring them against nothing.
#[test]
fn the_relativistic_generator_loss_needs_the_real_logits_and_says_so() {
    let game = game_by_name("rpgan", GameOptions::default()).expect("short name");
    assert_eq!(game.name(), "relativistic");
    assert!(game.needs_real_logits());
    let fake = Tensor::from_slice(&[0.5f32, -1.0]);
    let err = game.g_loss(&fake).expect_err("no reals").to_string();
    assert!(
        err.contains("`relativistic`") && err.contains("real"),
        "{err}"
    );
    let pass = GeneratorPass {
        fake_logits: &fake,
        fake: &fake,
        z: &fake,
        real_logits: None,
        ctx: StepContext::default(),
    };
    assert!(game.generator_loss(&pass).is_err());
    // The absolute games need no reals.
    for name in [
        "nonsaturating",
        "minimax",
        "wgan",
        "wgan-gp",
        "lsgan",
        "hinge",
    ] {
        let game = game_by_name(name, GameOptions::default()).expect("game");
        assert!(!game.needs_real_logits(), "{name}");
        assert!(game.generator_loss(&pass).is_ok(), "{name}");
    }
}

/// R3GAN's D loss (Huang et al. 2024): the relativistic loss plus R1 at the reals and R2 at the
/// fakes, through a small MLP critic, and its gradient with respect to the critic's weights
/// (a double backward through both penalties), against PyTorch in float64.
#[test]
fn relativistic_with_r1_and_r2_equals_pytorch_through_a_critic() {
    let fx = read_fixture("games_reference.json");
    let r = &fx["r3gan"];
    let matrix = |v: &Value| {
        let rows: Vec<Tensor> = v.as_array().expect("rows").iter().map(f64s).collect();
        Tensor::stack(&rows, 0)
    };
    let (x_real, x_fake) = (matrix(&r["x_real"]), matrix(&r["x_fake"]));
    let w1 = matrix(&r["w1"]).set_requires_grad(true);
    let (b1, w2) = (f64s(&r["b1"]), f64s(&r["w2"]));
    let gamma = r["gamma"].as_f64().expect("gamma");
    let game = game_by_name(
        "relativistic",
        GameOptions {
            r1_gamma: gamma,
            r2_gamma: gamma,
            ..Default::default()
        },
    )
    .expect("game");
    let out = game.d_loss(
        &mut |x: &Tensor| (x.matmul(&w1) + &b1).tanh().matmul(&w2),
        &x_real,
        &x_fake,
        StepContext::default(),
    );
    let value = |name: &str| {
        out.scalars
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no scalar {name}"))
            .1
            .double_value(&[])
    };
    // The logged penalties are float32 scalars; the loss itself is float64.
    for (name, key) in [("r1_penalty", "r1"), ("r2_penalty", "r2")] {
        let expected = r[key].as_f64().expect("f64");
        assert!(
            (value(name) - expected).abs() <= 1e-6 * expected.abs(),
            "{name}: {} vs PyTorch {expected}",
            value(name)
        );
    }
    let (atol, rtol) = (1e-12, 1e-10);
    let (loss, expected) = (out.loss.double_value(&[]), r["loss"].as_f64().expect("f64"));
    assert!(
        (loss - expected).abs() <= atol + rtol * expected.abs(),
        "loss_d: {loss} vs PyTorch {expected}"
    );
    let grad = Tensor::run_backward(&[&out.loss], &[&w1], false, false);
    assert_close(
        &grad[0],
        &matrix(&r["grad_w1"]),
        atol,
        rtol,
        "d loss_d / d W1",
    );
}

/// An option that the chosen game does not read is named with the games it applies to (a run
/// logs it as a warning), and the options a game reads are not.
#[test]
fn options_a_game_does_not_read_are_named() {
    use ganlab_games::GameName;
    let r1 = GameOptions {
        r1_gamma: 10.0,
        r2_gamma: 10.0,
        ..Default::default()
    };
    let unused = GameName::Hinge.unused_options(&r1);
    assert_eq!(unused.len(), 2, "{unused:?}");
    assert!(
        unused[0].contains("game_options.r1_gamma = 10")
            && unused[0].contains("`hinge`")
            && unused[0].contains("nonsaturating, minimax, relativistic"),
        "{unused:?}"
    );
    assert!(unused[1].contains("r2_gamma"), "{unused:?}");
    for game in [
        GameName::NonSaturating,
        GameName::Minimax,
        GameName::Relativistic,
    ] {
        assert!(game.unused_options(&r1).is_empty(), "{game}");
    }
    // ProGAN's drift under another game; label smoothing outside the logistic games.
    let drift = GameOptions {
        gp_drift: 0.001,
        label_smoothing: 0.1,
        ..Default::default()
    };
    let unused = GameName::Relativistic.unused_options(&drift);
    assert!(
        unused.iter().any(|w| w.contains("label_smoothing"))
            && unused
                .iter()
                .any(|w| w.contains("gp_drift") && w.contains("wgan-gp")),
        "{unused:?}"
    );
    assert_eq!(
        GameName::WganGp.unused_options(&drift).len(),
        1,
        "label smoothing only"
    );
    assert!(GameName::Wgan
        .unused_options(&GameOptions::default())
        .is_empty());
}
