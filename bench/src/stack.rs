//! The contenders of one instance, logged in once, and the rounds that compare them.

use std::sync::Arc;

use crate::clients::{self, Bare, Contender, Python, Target};
use crate::plan::Plan;
use crate::runtime::BoxError;
use crate::throughput::{self, Mode, Sample};

/// The contenders of one instance, logged in with one token.
pub(crate) struct Stack {
    pub(crate) token: mastodon_auth_core::AccessToken,
    pub(crate) bare: Contender,
    pub(crate) transport: Contender,
    pub(crate) full: Contender,
}

impl Stack {
    pub(crate) async fn log_in(
        target: &Target,
        approve: impl FnOnce(&str) -> Result<String, BoxError>,
    ) -> Result<Self, BoxError> {
        let transport = target.transport()?;
        let setup = target
            .client(transport.clone(), clients::unthrottled_pacer(), None)
            .await?;
        let token = clients::log_in(&setup, approve).await?;
        let full = target
            .client(
                transport.clone(),
                clients::unthrottled_pacer(),
                Some(&token),
            )
            .await?;
        Ok(Self {
            bare: Contender::Bare(Arc::new(Bare::new(target, &token)?)),
            transport: Contender::Transport(Arc::new(clients::TransportOnly::new(
                target, transport, &token,
            )?)),
            full: Contender::Full(full),
            token,
        })
    }

    /// The contender a `--profile` argument names.
    #[cfg_attr(not(feature = "megalodon"), allow(unused_variables))]
    pub(crate) fn contender(&self, who: &str, target: &Target) -> Result<Contender, BoxError> {
        Ok(match who {
            #[cfg(feature = "megalodon")]
            "megalodon" => clients::megalodon(target, &self.token)?,
            "bare+json" => self.bare_parsed(),
            "bare" => self.bare.clone(),
            "transport" => self.transport.clone(),
            "full" => self.full.clone(),
            "bare+timeout" => match &self.bare {
                Contender::Bare(bare) => Contender::BareWithTimeout(bare.clone()),
                other => other.clone(),
            },
            other => {
                return Err(format!(
                    "unknown contender {other:?}: bare, bare+json, bare+timeout, transport, full, \
                     megalodon (with the feature) or limiter:no|pacer|redis"
                )
                .into());
            }
        })
    }

    /// (a′): the bare client, parsing what it receives.
    pub(crate) fn bare_parsed(&self) -> Contender {
        match &self.bare {
            Contender::Bare(bare) => Contender::BareParsed(bare.clone()),
            other => other.clone(),
        }
    }

    pub(crate) async fn bare_version(&self) -> Result<http::Version, BoxError> {
        match &self.bare {
            Contender::Bare(bare) => Ok(bare.verify().await?),
            _ => Err("the bare contender is not a bare client".into()),
        }
    }
}

/// Per contender (in the order given, then Mastodon.py), the samples of every round.
pub(crate) async fn compare(
    contenders: &[(&'static str, Contender)],
    mut python: Option<&mut Python>,
    mode: Mode,
    requests: usize,
    plan: Plan,
) -> Result<Vec<(&'static str, Vec<Sample>)>, BoxError> {
    // Warm up: open connections, fill pools and caches.
    for (_, c) in contenders {
        throughput::block(c, mode, requests / 5).await?;
    }
    if let Some(py) = python.as_deref_mut() {
        throughput::python_block(py, plan.python / 5)?;
    }
    let slots = contenders.len() + usize::from(python.is_some());
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); slots];
    for round in 0..plan.rounds {
        for slot in throughput::rotation(slots, round) {
            let sample = match contenders.get(slot) {
                Some((_, c)) => throughput::block(c, mode, requests).await?,
                None => match python.as_deref_mut() {
                    Some(py) => throughput::python_block(py, plan.python)?,
                    None => continue,
                },
            };
            samples[slot].push(sample);
        }
    }
    let mut names: Vec<&'static str> = contenders.iter().map(|(n, _)| *n).collect();
    if python.is_some() {
        names.push("(d) Mastodon.py");
    }
    Ok(names.into_iter().zip(samples).collect())
}
