//! The names of the secrets this service owns: env var values (the public contract) and
//! Heroku tokens.

use super::SECRET_NAME_MAX;
use crate::domain::ProjectId;

/// Names of the secrets this service owns.
#[derive(Clone, Debug)]
pub struct SecretNames {
    prefix: String,
}

impl SecretNames {
    pub fn new(prefix: &str) -> Self {
        SecretNames {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }
    /// The public contract: `{prefix}/projects/{P}/env/{NAME}`.
    pub fn env_var(&self, project: &ProjectId, env_var: &str) -> String {
        format!("{}/projects/{project}/env/{env_var}", self.prefix)
    }

    /// Whether the env var's secret name fits Secrets Manager's 512 characters: checked
    /// up front, so a too-long name is a 400 and not a failure after subscribing.
    pub fn env_var_fits(
        &self,
        project: &ProjectId,
        env_var: &crate::domain::EnvVarName,
    ) -> Result<(), crate::domain::ValidationError> {
        let len = self.env_var(project, env_var.as_str()).len();
        if len > SECRET_NAME_MAX {
            return Err(crate::domain::ValidationError {
                field: "env_var",
                message: format!(
                    "its secret's name ({}/projects/{project}/env/NAME) would be {len} \
                     characters, over Secrets Manager's {SECRET_NAME_MAX}; choose a shorter name",
                    self.prefix
                ),
            });
        }
        Ok(())
    }
    /// A project's Heroku OAuth tokens, deliberately outside `projects/` so a platform
    /// policy granting `projects/*` cannot read them.
    pub fn heroku_tokens(&self, project: &ProjectId) -> String {
        format!("{}/heroku-tokens/{project}", self.prefix)
    }

    /// The tokens of a grant held pending until its confirm step (`id`: random, its own).
    /// Under `heroku-tokens/` like every token, in a folder no project id can name (a
    /// project id has no `/`).
    pub fn pending_heroku_tokens(&self, id: &str) -> String {
        format!("{}/heroku-tokens/pending/{id}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EnvVarName;

    #[test]
    fn an_env_var_whose_secret_name_passes_512_characters_is_refused_up_front() {
        let project = ProjectId::parse("p".repeat(128)).unwrap();
        let name = |n: usize| EnvVarName::parse("E".repeat(n)).unwrap();
        let short = SecretNames::new("heroku-db-url-sync");
        assert!(short.env_var_fits(&project, &name(255)).is_ok());
        // A long stack prefix: 512 - "/projects/" - 128 - "/env/" - 100 = 269 characters.
        let long = SecretNames::new(&"x".repeat(269));
        assert_eq!(long.env_var(&project, &"E".repeat(100)).len(), 512);
        assert!(long.env_var_fits(&project, &name(100)).is_ok(), "512 fits");
        let e = long.env_var_fits(&project, &name(101)).unwrap_err();
        assert_eq!(e.field, "env_var");
        assert!(e.message.contains("513 characters"), "{}", e.message);
    }
}
