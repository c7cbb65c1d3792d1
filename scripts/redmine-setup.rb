# redmine-setup.rb - prepare a fresh Debian Redmine 5 for sla-bridge's
# end-to-end tests. Run by scripts/redmine-live.sh (first `start`) as:
#   cd /usr/share/redmine && HOME=/tmp RAILS_ENV=production SLA_LABELS="$labels" \
#     setpriv --reuid=www-data --regid=www-data --init-groups ruby bin/rails runner redmine-setup.rb
# SLA_LABELS: the label values (one per line) the "SLA labels" list field accepts.
# Creates: REST API on, project "support" (categories Training, Production),
# custom fields "SLA labels" (list, multiple), "SLA deadline" (string), "Workaround"
# (list: provisional/definitive), "Reported at" (string), role "Support" (its
# workflow lacks Feedback -> Closed), group "Support Team" and the USERS below.
# Idempotent: re-running updates what exists. Prints one JSON object (ids, API
# keys, ...) as the LAST line of stdout; also writes it to $SLA_REDMINE_SETUP_OUT
# if that is set (the path must be writable by the user running this).
require 'json'

PROJECT_IDENTIFIER = 'support'
AGENT_ROLE = 'Manager'
CUSTOMER_ROLE = 'Reporter'
SUPPORT_ROLE = 'Support'     # created here; its workflow has no direct Feedback -> Closed
GROUP_ROLE = 'Developer'     # the group's role in the project
GROUP = 'Support Team'       # a group with a space in its name, as real ones have
CATEGORIES = %w[Training Production].freeze
ADMIN_PASSWORD = 'admin' # Debian's default data; only on 127.0.0.1
# Logins differ from display names on purpose: sla-bridge must match people by
# login/id/group/role, never by the name Redmine shows. Users are created in this
# order, so on a fresh database agent is id 5 and customer id 6 (2-4 are built-in).
# hide_mail: false shows the address to non-admin API users (email: patterns).
USERS = {
  'agent' => {firstname: 'Sam', lastname: 'Agent', mail: 'agent@example.test',
              password: 'agent-password', role: AGENT_ROLE},
  'customer' => {firstname: 'Alice', lastname: 'Customer', mail: 'customer@example.test',
                 password: 'customer-password', role: CUSTOMER_ROLE},
  'cust-admin' => {firstname: 'Alice', lastname: 'Martin', mail: 'alice.martin@example.test',
                   password: 'cust-admin-password', role: CUSTOMER_ROLE, hide_mail: false},
  'jdupont' => {firstname: 'Jo', lastname: 'Dupont', mail: 'jo.dupont@example.test',
                password: 'jdupont-password', role: nil, group: GROUP},
  'mlefebvre' => {firstname: 'Marc', lastname: 'Lefebvre', mail: 'marc.lefebvre@example.test',
                  password: 'mlefebvre-password', role: SUPPORT_ROLE},
  'sla-bot' => {firstname: 'SLA', lastname: 'Bridge', mail: 'sla-bot@example.test',
                password: 'sla-bot-password', role: SUPPORT_ROLE},
}
AGENT_PERMISSIONS = %i[view_issues add_issues edit_issues add_issue_notes view_private_notes
                       set_notes_private edit_own_issue_notes view_issue_watchers]
CUSTOMER_PERMISSIONS = %i[view_issues add_issues add_issue_notes]
# No manage_categories: category names must come from /projects.json, as for most API users.
SUPPORT_PERMISSIONS = AGENT_PERMISSIONS
# Transitions the Support role lacks, per tracker (the rest: every status to every
# other). Bug/Support: Feedback -> Resolved -> Closed, no direct step. Feature: no
# way to Closed from Feedback (neither directly nor to Resolved).
SUPPORT_MISSING = {
  'Bug' => [%w[Feedback Closed]],
  'Support' => [%w[Feedback Closed]],
  'Feature' => [%w[Feedback Closed], %w[Feedback Resolved]],
}.freeze

labels = ENV.fetch('SLA_LABELS', '').split("\n").map(&:strip).reject(&:empty?).uniq
abort 'redmine-setup.rb: SLA_LABELS is empty (newline-separated label values)' if labels.empty?

# Issue custom fields, for all projects and trackers, visible to everyone.
def ensure_field(name, format)
  field = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
  field.field_format = format if field.new_record?
  field.field_format == format or abort "redmine-setup.rb: field #{name} exists with format #{field.field_format}"
  field.is_for_all = true
  field.visible = true
  field.is_filter = true
  field.searchable = true
  field.is_required = false
  field.editable = true
  field.tracker_ids = Tracker.pluck(:id)
  yield field if block_given?
  field.save!
  field
end

ActiveRecord::Base.transaction do
  # REST API on (the running server picks settings up without a restart);
  # no mail: nothing is configured to deliver it.
  Setting.rest_api_enabled = '1'
  Setting.notified_events = []

  admin = User.find_by_login('admin') or abort 'redmine-setup.rb: no admin user'
  admin.update_columns(must_change_passwd: false, mail_notification: 'none')
  admin.api_key # creates the token if missing

  trackers = Tracker.sorted.to_a
  statuses = IssueStatus.sorted.to_a
  %w[Bug Feature Support].each do |name|
    trackers.any? { |t| t.name == name } or abort "redmine-setup.rb: no tracker #{name}"
  end

  # Roles: permissions, and every transition between every status for the agent's role.
  support = Role.find_by(name: SUPPORT_ROLE, builtin: 0) ||
            Role.new(name: SUPPORT_ROLE, issues_visibility: 'all', users_visibility: 'all', assignable: true)
  support.save! if support.new_record?
  roles = {}
  {AGENT_ROLE => AGENT_PERMISSIONS, CUSTOMER_ROLE => CUSTOMER_PERMISSIONS,
   SUPPORT_ROLE => SUPPORT_PERMISSIONS}.each do |name, perms|
    role = Role.find_by(name: name, builtin: 0) or abort "redmine-setup.rb: no role #{name}"
    missing = perms - role.permissions
    unless missing.empty?
      role.permissions = role.permissions + missing
      role.save!
    end
    roles[name] = role
  end
  roles[GROUP_ROLE] = Role.find_by(name: GROUP_ROLE, builtin: 0) or abort "redmine-setup.rb: no role #{GROUP_ROLE}"
  [roles[AGENT_ROLE], roles[SUPPORT_ROLE]].each do |role|
    trackers.each do |tracker|
      missing = role.name == SUPPORT_ROLE ? SUPPORT_MISSING.fetch(tracker.name, []) : []
      statuses.each do |from|
        statuses.each do |to|
          next if from == to
          rule = {tracker_id: tracker.id, role_id: role.id, old_status_id: from.id, new_status_id: to.id}
          if missing.include?([from.name, to.name])
            WorkflowTransition.where(rule).delete_all
          else
            WorkflowTransition.find_or_create_by!(rule.merge(author: false, assignee: false))
          end
        end
      end
    end
  end

  # The project: private, so the customer's rights come from its Reporter membership.
  project = Project.find_by(identifier: PROJECT_IDENTIFIER) ||
            Project.new(identifier: PROJECT_IDENTIFIER)
  project.name = 'Support'
  project.description = 'sla-bridge end-to-end tests'
  project.is_public = false
  project.trackers = trackers
  project.enabled_module_names = (project.enabled_module_names | ['issue_tracking'])
  project.save!

  # Issue custom fields, for all projects and trackers, visible to everyone.
  labels_field = ensure_field('SLA labels', 'list') do |f|
    f.multiple = true
    f.possible_values = labels
    f.description = 'Labels written by sla-bridge (one value per label).'
  end
  deadline_field = ensure_field('SLA deadline', 'string') do |f|
    f.description = 'Next SLA deadline, ISO 8601 (Redmine has no datetime field).'
  end
  workaround_field = ensure_field('Workaround', 'list') do |f|
    f.multiple = false
    f.possible_values = %w[provisional definitive]
    f.description = 'Kind of workaround delivered (read by sla-bridge through [trackers.<name>.fields]).'
  end
  reported_at_field = ensure_field('Reported at', 'string') do |f|
    f.description = 'When the customer reported it, ISO 8601, if logged later (a phone call).'
  end
  fields = [labels_field, deadline_field, workaround_field, reported_at_field]
  project.issue_custom_field_ids = (project.issue_custom_field_ids | fields.map(&:id))
  project.save!
  categories = CATEGORIES.map { |name| IssueCategory.find_or_create_by!(project_id: project.id, name: name) }

  # Users with API keys, members of the project.
  users = {}
  USERS.each do |login, attrs|
    user = User.find_by_login(login) || User.new
    user.login = login
    user.firstname = attrs[:firstname]
    user.lastname = attrs[:lastname]
    user.mail = attrs[:mail]
    user.language = 'en'
    user.admin = false
    user.status = User::STATUS_ACTIVE
    user.mail_notification = 'none'
    user.must_change_passwd = false
    unless !user.new_record? && user.check_password?(attrs[:password])
      user.password = user.password_confirmation = attrs[:password]
    end
    user.save!
    user.pref.hide_mail = attrs.fetch(:hide_mail, true)
    user.pref.save!
    user.api_key
    role = roles[attrs[:role]]
    if role
      member = Member.find_by(project_id: project.id, user_id: user.id) ||
               Member.new(project: project, principal: user)
      member.role_ids = [role.id]
      member.save!
    end
    users[login] = {id: user.id, login: login, name: user.name, password: attrs[:password],
                    api_key: user.reload.api_key, role: role&.name, role_id: role&.id, group: attrs[:group]}
  end

  # A group, member of the project with its own role: its users get that role
  # (inherited), and group: patterns must match them.
  group = Group.find_by(lastname: GROUP) || Group.new(lastname: GROUP)
  group.users = USERS.select { |_, a| a[:group] == GROUP }.keys.map { |login| User.find_by_login(login) }
  group.save!
  group_member = Member.find_by(project_id: project.id, user_id: group.id) ||
                 Member.new(project: project, principal: group)
  group_member.role_ids = [roles[GROUP_ROLE].id]
  group_member.save!

  result = {
    redmine_version: Redmine::VERSION.to_s,
    admin: {id: admin.id, login: admin.login, password: ADMIN_PASSWORD, api_key: admin.reload.api_key},
    agent: users['agent'],
    customer: users['customer'],
    users: users,
    groups: [{id: group.id, name: group.lastname}],
    project: {id: project.id, identifier: project.identifier, name: project.name},
    categories: categories.map { |c| {id: c.id, name: c.name} },
    custom_fields: {labels: labels_field.id, deadline: deadline_field.id, workaround: workaround_field.id,
                    reported_at: reported_at_field.id},
    labels: labels_field.possible_values,
    trackers: trackers.map { |t| {id: t.id, name: t.name} },
    statuses: statuses.map { |s| {id: s.id, name: s.name, is_closed: s.is_closed} },
    priorities: IssuePriority.active.sorted.map { |p| {id: p.id, name: p.name, is_default: p.is_default} },
    roles: Role.givable.sorted.map { |r| {id: r.id, name: r.name} },
  }
  json = JSON.generate(result)
  File.write(ENV['SLA_REDMINE_SETUP_OUT'], json + "\n") if ENV['SLA_REDMINE_SETUP_OUT'].to_s != ''
  $stdout.puts json
end
